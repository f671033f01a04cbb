// bnn2hw_axis_fifo: AXI-stream FIFO between the layers of the stitched accelerator.
//
// DEPTH words of W bits (any DEPTH >= 1). s_axis_tready = (count < DEPTH) and m_axis_tvalid =
// (count != 0) both come from the registered count: no combinational path through the FIFO.
// Full throughput (a word in and out every cycle) needs DEPTH >= 2. Latency: one cycle.
// With REPORT_PEAK = 1 the highest occupancy seen is printed at the end of simulation
// ("bnn2hw_fifo <instance> peak <n>"), which is how bnn2hw sizes the FIFOs of a design.
module bnn2hw_axis_fifo #(
	int unsigned W = 8,
	int unsigned DEPTH = 2,
	int unsigned REPORT_PEAK = 0
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [W-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	output	logic  s_axis_tready,
	output	logic [W-1:0]  m_axis_tdata,
	output	logic  m_axis_tvalid,
	input	logic  m_axis_tready
);
	localparam int unsigned PTR_W = DEPTH > 1 ? $clog2(DEPTH) : 1;
	logic [W-1:0]  mem [DEPTH];
	logic [PTR_W-1:0]  rd_ptr, wr_ptr;
	logic [$clog2(DEPTH + 1)-1:0]  count, peak;
	logic  push, pop;
	assign	s_axis_tready = count < DEPTH;
	assign	m_axis_tvalid = count != 0;
	assign	m_axis_tdata = mem[rd_ptr];
	assign	push = s_axis_tvalid && s_axis_tready;
	assign	pop = m_axis_tvalid && m_axis_tready;
	always_ff @(posedge clk) begin
		if (!rst_n) begin
			rd_ptr <= 0;  wr_ptr <= 0;  count <= 0;  peak <= 0;
		end else begin
			if (push) begin
				mem[wr_ptr] <= s_axis_tdata;
				wr_ptr <= wr_ptr == PTR_W'(DEPTH - 1) ? 0 : wr_ptr + 1;
			end
			if (pop)  rd_ptr <= rd_ptr == PTR_W'(DEPTH - 1) ? 0 : rd_ptr + 1;
			count <= count + (push ? 1 : 0) - (pop ? 1 : 0);
			if (count > peak)  peak <= count;
		end
	end
	final if (REPORT_PEAK)  $display("bnn2hw_fifo %m peak %0d", peak);
endmodule
