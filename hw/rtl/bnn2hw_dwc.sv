// bnn2hw_dwc: AXI-stream width converter: words of IN_N elements -> words of OUT_N elements.
//
// Elements are E bits, element 0 least significant, and keep their order (FINN's
// StreamingDataWidthConverter semantics; IN_N and OUT_N need not divide each other). A buffer of
// IN_N + OUT_N elements: an input word is taken while it fits, an output word is offered while
// the buffer holds OUT_N elements. Ready and valid come from the registered fill level.
// Throughput: one word a cycle on the narrower side. Latency: one cycle.
module bnn2hw_dwc #(
	int unsigned E = 1,
	int unsigned IN_N = 8,
	int unsigned OUT_N = 1
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [IN_N*E-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	output	logic  s_axis_tready,
	output	logic [OUT_N*E-1:0]  m_axis_tdata,
	output	logic  m_axis_tvalid,
	input	logic  m_axis_tready
);
	localparam int unsigned CAP = IN_N + OUT_N;
	logic [CAP*E-1:0]  buffer;
	logic [$clog2(CAP + 1)-1:0]  count;
	logic  push, pop;
	assign	s_axis_tready = count + IN_N <= CAP;
	assign	m_axis_tvalid = count >= OUT_N;
	assign	m_axis_tdata = buffer[OUT_N*E-1:0];
	assign	push = s_axis_tvalid && s_axis_tready;
	assign	pop = m_axis_tvalid && m_axis_tready;
	always_ff @(posedge clk) begin
		if (!rst_n) begin
			buffer <= '0;  count <= 0;
		end else begin
			logic [CAP*E-1:0]  b;
			logic [$clog2(CAP + 1)-1:0]  c;
			b = buffer;  c = count;
			if (pop) begin
				b = b >> (OUT_N * E);
				c = c - OUT_N;
			end
			if (push) begin
				b = b | ((CAP*E)'(s_axis_tdata) << (c * E));
				c = c + IN_N;
			end
			buffer <= b;  count <= c;
		end
	end
endmodule
