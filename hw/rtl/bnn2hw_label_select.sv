// bnn2hw_label_select: top-1 class index of a stream of integer scores (FINN LabelSelect, K = 1).
//
// Input: per image, LABELS scores as LABELS/PE words of PE elements of BITS bits (SIGNED),
// element 0 least significant (score index = word*PE + lane). Output: one word per image, the
// index of the highest score as an OBITS-bit unsigned integer. Tie rule (finn-hlslib
// LabelSelect_Batch, and bnn2hw.sim's top_k_labels): the running best starts at FLOOR with
// label 0 and a score replaces it only if strictly greater, so ties keep the lower index.
// Pipeline: the input word is registered; its PE lanes meet in a tournament tree (the lower
// index wins a tie, so the tree's winner is the word's first highest score), a register after
// every TREE_REG levels and after the last; the winner then replaces the running best only if
// strictly greater (the same result as scanning the lanes in order); the last word's label is
// registered into the output FIFO. No stalls inside: a word is taken only when the output FIFO
// has room for everything in flight; no combinational path from m_tready to s_tready.
// Throughput: one input word a cycle (LABELS/PE cycles per image); latency TREE_LAT + 3 cycles
// from the last word to the output (TREE_LAT = max(1, ceil(clog2(PE) / TREE_REG))).
module bnn2hw_label_select #(
	int unsigned LABELS = 10,
	int unsigned PE = 1,
	int unsigned BITS = 8,
	int unsigned SIGNED = 1,
	int FLOOR = -128,
	int unsigned OBITS = 8,
	int unsigned TREE_REG = 2,
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
	localparam int unsigned SCORE_W = BITS + 1;     // signed, holds BITS-bit signed or unsigned scores
	localparam int unsigned LABEL_W = $clog2(LABELS > 1 ? LABELS : 2);
	localparam int unsigned WORD_W = $clog2(WORDS > 1 ? WORDS : 2);
	localparam int unsigned LEVELS = $clog2(PE);
	localparam int unsigned TREE_LAT = LEVELS == 0 ? 1 : (LEVELS + TREE_REG - 1) / TREE_REG;
	localparam int unsigned IN_FLIGHT = TREE_LAT + 3;  // taken word, input register, tree, running best
	localparam int unsigned DEPTH = 2 ** $clog2(IN_FLIGHT + 2);

	function automatic bit level_registered(int unsigned l);
		return LEVELS == 0 ? l == 0 : l > 0 && (l % TREE_REG == 0 || l == LEVELS);
	endfunction

	//----- input: take a word when the output FIFO has room for every image in flight
	logic [$clog2(DEPTH):0]  count;
	logic [WORD_W-1:0]  word, word1;
	logic  take, v1, first1, last1;
	logic [W-1:0]  x1;
	assign	s_axis_tready = count + IN_FLIGHT < DEPTH;
	assign	take = s_axis_tvalid && s_axis_tready;
	always_ff @(posedge clk) begin
		if (!rst_n) begin
			word <= 0;  v1 <= 0;
		end else begin
			if (take)  word <= word == WORDS - 1 ? 0 : word + 1;
			v1 <= take;
		end
		x1 <= s_axis_tdata;
		word1 <= word;
		first1 <= word == 0;
		last1 <= word == WORDS - 1;
	end

	//----- tournament tree over the PE lanes: node = (score, label); the left (lower) index wins ties
	logic signed [SCORE_W-1:0]  score [LEVELS + 1][PE] /* verilator split_var */;
	logic signed [SCORE_W-1:0]  score_q [LEVELS + 1][PE] /* verilator split_var */;
	logic [LABEL_W-1:0]  label [LEVELS + 1][PE] /* verilator split_var */;
	logic [LABEL_W-1:0]  label_q [LEVELS + 1][PE] /* verilator split_var */;
	for (genvar p = 0; p < PE; p++) begin : gen_lane
		logic [BITS-1:0]  raw;
		assign	raw = x1[p * BITS +: BITS];
		assign	score[0][p] = SIGNED ? SCORE_W'($signed(raw)) : SCORE_W'($unsigned(raw));
		assign	label[0][p] = LABEL_W'(word1 * PE + p);
	end
	for (genvar l = 0; l <= LEVELS; l++) begin : gen_level
		localparam int unsigned N = (PE + 2 ** l - 1) / 2 ** l;
		for (genvar i = 0; i < N; i++) begin : gen_node
			if (l > 0) begin : gen_match
				if (2 * i + 1 < (PE + 2 ** (l - 1) - 1) / 2 ** (l - 1)) begin : gen_pair
					logic  right_wins;
					assign	right_wins = score_q[l - 1][2 * i + 1] > score_q[l - 1][2 * i];
					assign	score[l][i] = right_wins ? score_q[l - 1][2 * i + 1] : score_q[l - 1][2 * i];
					assign	label[l][i] = right_wins ? label_q[l - 1][2 * i + 1] : label_q[l - 1][2 * i];
				end else begin : gen_bye
					assign	score[l][i] = score_q[l - 1][2 * i];
					assign	label[l][i] = label_q[l - 1][2 * i];
				end
			end
			if (level_registered(l)) begin : gen_reg
				always_ff @(posedge clk) begin
					score_q[l][i] <= score[l][i];
					label_q[l][i] <= label[l][i];
				end
			end else begin : gen_wire
				assign	score_q[l][i] = score[l][i];
				assign	label_q[l][i] = label[l][i];
			end
		end
	end
	logic  vt, firstt, lastt;  // the word's valid, first and last, beside the tree
	bnn2hw_pipe #(.W(2), .STAGES(TREE_LAT)) tree_side (
		.clk, .rst_n, .in_valid(v1), .in_data({first1, last1}), .out_valid(vt), .out_data({firstt, lastt}));

	//----- running best over the words; the last word's label into the output FIFO
	logic signed [SCORE_W-1:0]  win_score, best, best_prev, best_next;
	logic [LABEL_W-1:0]  win_label, best_label, label_prev, label_next;
	logic  vo;
	logic [OBITS-1:0]  out_q;
	assign	win_score = score_q[LEVELS][0];
	assign	win_label = label_q[LEVELS][0];
	assign	best_prev = firstt ? SCORE_W'(FLOOR) : best;
	assign	label_prev = firstt ? LABEL_W'(0) : best_label;
	assign	best_next = win_score > best_prev ? win_score : best_prev;
	assign	label_next = win_score > best_prev ? win_label : label_prev;
	always_ff @(posedge clk) begin
		if (!rst_n)  vo <= 0;
		else  vo <= vt && lastt;
		if (vt) begin
			best <= best_next;
			best_label <= label_next;
		end
		out_q <= OBITS'(label_next);
	end
	bnn2hw_out_fifo #(.W(OBITS), .DEPTH(DEPTH)) out_fifo (
		.clk, .rst_n, .push(vo), .push_data(out_q), .count,
		.m_axis_tdata, .m_axis_tvalid, .m_axis_tready
	);
endmodule
