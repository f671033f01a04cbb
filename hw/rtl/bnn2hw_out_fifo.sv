// bnn2hw_out_fifo: the output queue of bnn2hw's layers (AXI-stream master side).
//
// DEPTH entries of W bits; `push` writes push_data (the producer checks `count` first, so a
// push never meets a full queue); m_axis presents the oldest entry (valid = not empty).
// `count` is a register: producers gate their input on it, so no layer has a combinational
// path from m_tready to its s_tready. Latency: one cycle from push to m_tvalid.
module bnn2hw_out_fifo #(
	int unsigned W = 8,
	int unsigned DEPTH = 4
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic  push,
	input	logic [W-1:0]  push_data,
	output	logic [$clog2(DEPTH):0]  count,
	output	logic [W-1:0]  m_axis_tdata,
	output	logic  m_axis_tvalid,
	input	logic  m_axis_tready
);
	logic [W-1:0]  mem [DEPTH];
	logic [$clog2(DEPTH)-1:0]  rd_ptr, wr_ptr;
	logic  pop;
	assign	m_axis_tvalid = count != 0;
	assign	m_axis_tdata = mem[rd_ptr];
	assign	pop = m_axis_tvalid && m_axis_tready;
	always_ff @(posedge clk) begin
		if (!rst_n) begin
			rd_ptr <= 0;  wr_ptr <= 0;  count <= 0;
		end else begin
			if (push) begin
				mem[wr_ptr] <= push_data;
				wr_ptr <= wr_ptr + 1;
			end
			if (pop)  rd_ptr <= rd_ptr + 1;
			count <= count + (push ? 1 : 0) - (pop ? 1 : 0);
		end
	end
endmodule
