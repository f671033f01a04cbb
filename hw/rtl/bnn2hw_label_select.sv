// bnn2hw_label_select: top-1 class index of a stream of integer scores (FINN LabelSelect, K = 1).
//
// Input: per image, LABELS scores as LABELS/PE words of PE elements of BITS bits (SIGNED),
// element 0 least significant (score index = word*PE + lane). Output: one word per image, the
// index of the highest score as an OBITS-bit unsigned integer. Tie rule (finn-hlslib
// LabelSelect_Batch, and bnn2hw.sim's top_k_labels): the running best starts at FLOOR with
// label 0 and a score replaces it only if strictly greater, so ties keep the lower index.
// Throughput: one input word a cycle (LABELS/PE cycles per image); latency 1 cycle.
module bnn2hw_label_select #(
	int unsigned LABELS = 10,
	int unsigned PE = 1,
	int unsigned BITS = 8,
	int unsigned SIGNED = 1,
	int FLOOR = -128,
	int unsigned OBITS = 8,
	localparam int unsigned W = PE * BITS,
	localparam int unsigned WORDS = LABELS / PE
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [W-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	output	logic  s_axis_tready,
	output	logic [OBITS-1:0]  m_axis_tdata,
	output	logic  m_axis_tvalid,
	input	logic  m_axis_tready
);
	localparam int unsigned DEPTH = 2;
	localparam int unsigned SCORE_W = BITS + 1;     // signed, holds BITS-bit signed or unsigned scores
	localparam int unsigned LABEL_W = $clog2(LABELS > 1 ? LABELS : 2);
	logic [$clog2(DEPTH):0]  count;
	logic [$clog2(WORDS > 1 ? WORDS : 2)-1:0]  word;
	logic signed [SCORE_W-1:0]  best, best_next;
	logic [LABEL_W-1:0]  label, label_next;
	logic  last, take;
	assign	last = word == WORDS - 1;
	assign	s_axis_tready = !last || count < DEPTH;
	assign	take = s_axis_tvalid && s_axis_tready;

	always_comb begin
		best_next = word == 0 ? SCORE_W'(FLOOR) : best;
		label_next = word == 0 ? 0 : label;
		for (int unsigned p = 0; p < PE; p++) begin
			logic [BITS-1:0]  raw;
			logic signed [SCORE_W-1:0]  score;
			raw = s_axis_tdata[p * BITS +: BITS];
			score = SIGNED ? SCORE_W'($signed(raw)) : SCORE_W'($unsigned(raw));
			if (score > best_next) begin
				best_next = score;
				label_next = LABEL_W'(word * PE + p);
			end
		end
	end
	always_ff @(posedge clk) begin
		if (!rst_n)  word <= 0;
		else if (take)  word <= last ? 0 : word + 1;
		if (take) begin
			best <= best_next;
			label <= label_next;
		end
	end

	bnn2hw_out_fifo #(.W(OBITS), .DEPTH(DEPTH)) out_fifo (
		.clk, .rst_n, .push(take && last), .push_data(OBITS'(label_next)), .count,
		.m_axis_tdata, .m_axis_tvalid, .m_axis_tready
	);
endmodule
