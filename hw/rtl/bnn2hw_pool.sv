// bnn2hw_pool: max-pooling of a stream of sliding windows (FINN Pool, Function MaxPool).
//
// Input: per output pixel, per channel fold cf (C/PE of them), the K window positions of PE
// channels (FINN's depthwise window order [C/PE][K][PE], what ConvolutionInputGenerator emits
// with depthwise = 1); each word holds PE elements of BITS bits (SIGNED), element 0 least
// significant. Output: one word of PE elements per K input words, the maximum over the window.
// For bipolar maps (BITS = 1, unsigned: -1 = 0, +1 = 1) the maximum is the OR of the bits.
// The bnn2hw.sim kernel Pool (op Pool_rtl) is the definition this module is tested against.
// Throughput: one input word a cycle (K cycles per output word); latency 1 cycle.
module bnn2hw_pool #(
	int unsigned PE = 1,
	int unsigned K = 4,
	int unsigned BITS = 1,
	int unsigned SIGNED = 0,
	localparam int unsigned W = PE * BITS
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
	localparam int unsigned DEPTH = 2;
	logic [$clog2(DEPTH):0]  count;
	logic [$clog2(K > 1 ? K : 2)-1:0]  kpos;
	logic [W-1:0]  best, best_next;
	logic  last, take;
	assign	last = kpos == K - 1;
	assign	s_axis_tready = !last || count < DEPTH;
	assign	take = s_axis_tvalid && s_axis_tready;

	always_comb begin
		for (int unsigned p = 0; p < PE; p++) begin
			logic [BITS-1:0]  a, b;
			logic  b_greater;
			a = best[p * BITS +: BITS];
			b = s_axis_tdata[p * BITS +: BITS];
			b_greater = SIGNED ? $signed(b) > $signed(a) : b > a;
			best_next[p * BITS +: BITS] = kpos == 0 || b_greater ? b : a;
		end
	end
	always_ff @(posedge clk) begin
		if (!rst_n)  kpos <= 0;
		else if (take)  kpos <= last ? 0 : kpos + 1;
		if (take)  best <= best_next;
	end

	bnn2hw_out_fifo #(.W(W), .DEPTH(DEPTH)) out_fifo (
		.clk, .rst_n, .push(take && last), .push_data(best_next), .count,
		.m_axis_tdata, .m_axis_tvalid, .m_axis_tready
	);
endmodule
