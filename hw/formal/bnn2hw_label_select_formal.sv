// Formal harness of bnn2hw_label_select (LABELS = 6 scores as WORDS = 3 words of PE = 2 signed
// 3-bit scores, FLOOR = -4, a 3-bit label, the default TREE_REG = 2: one tree level, registered;
// a sink ready at least one cycle in N = 5, slower than one image in WORDS cycles, so that the
// output queue fills).
//
// Proves: the AXI-stream rules (assumed on s_axis, asserted on m_axis, nothing offered the cycle
// after reset); word counts: one output word per WORDS input words, never before the image's last
// input word (the harness's count of owed labels stays within 0..5, one at most in flight); the label that leaves
// is the index of the first highest score (the harness's own running arg-max, ties keeping the
// lower index); no deadlock: an owed label leaves within LATENCY + N cycles, an offered word is
// taken within 2N + 2 cycles (two labels may have to leave first).
// Mode: k-induction (`mode prove`). It closes with invariants that tie the DUT's pipeline to the
// harness's own three-stage record of the words taken (h[1..3]: taken 1, 2 and 3 cycles ago, with
// the harness's running best after each): the input register (dut.v1, x1, word1, first1, last1),
// the tree's side channel and winner (dut.vt, firstt, lastt, best_next, label_next), the running
// best (dut.best, best_label), the output register (dut.vo, out_q), the word position (dut.word),
// and the output queue's count, pointers and memory against the harness's queue of owed labels.
module bnn2hw_label_select_formal #(
	int unsigned LABELS = 6,
	int unsigned PE = 2,
	int unsigned BITS = 3,
	int FLOOR = -4,
	int unsigned OBITS = 3,
	int unsigned N = 5,
	localparam int unsigned W = PE * BITS,
	localparam int unsigned WORDS = LABELS / PE,
	localparam int unsigned STAGES = 3,    // bnn2hw_label_select's: input register, tree, running best
	localparam int unsigned DEPTH = 8,     // its output queue: 2 ** clog2(STAGES + 1 + 2)
	localparam int unsigned LATENCY = STAGES + 1
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [W-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	input	logic  m_axis_tready
);
	logic  s_axis_tready, m_axis_tvalid;
	logic [OBITS-1:0]  m_axis_tdata;
	bnn2hw_label_select #(.LABELS(LABELS), .PE(PE), .BITS(BITS), .SIGNED(1), .FLOOR(FLOOR), .OBITS(OBITS)) dut (
		.clk, .rst_n, .s_axis_tdata, .s_axis_tvalid, .s_axis_tready,
		.m_axis_tdata, .m_axis_tvalid, .m_axis_tready
	);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	bnn2hw_f_axis #(.W(W), .ASSERT(0)) f_in (.clk, .rst_n, .tdata(s_axis_tdata), .tvalid(s_axis_tvalid),
		.tready(s_axis_tready));
	bnn2hw_f_axis #(.W(OBITS), .ASSERT(1)) f_out (.clk, .rst_n, .tdata(m_axis_tdata), .tvalid(m_axis_tvalid),
		.tready(m_axis_tready));
	bnn2hw_f_fair #(.N(N)) f_sink (.clk, .rst_n, .signal(m_axis_tready));

	logic  s_hs, m_hs, f_started = 1'b0;
	logic [1:0]  f_word;                    // input words taken of the current image
	logic [3:0]  f_owed;                    // images complete whose label has not left
	logic signed [BITS:0]  f_best, f_best_next;
	logic [OBITS-1:0]  f_label, f_label_next;
	logic [OBITS-1:0]  f_q [DEPTH];         // the owed labels, oldest first
	// the running arg-max after a word (the harness's own, lane by lane; ties keep the lower index)
	function automatic logic [BITS + OBITS:0] argmax_step(input logic [1:0] word, input logic signed [BITS:0] best,
			input logic [OBITS-1:0] label, input logic [W-1:0] data);
		if (word == 0) begin  best = (BITS + 1)'(FLOOR);  label = '0;  end
		for (int unsigned p = 0; p < PE; p++)
			if ($signed(data[p * BITS +: BITS]) > best) begin
				best = $signed(data[p * BITS +: BITS]);
				label = OBITS'(word * PE + p);
			end
		return {best, label};
	endfunction
	function automatic logic [1:0] next_word(input logic [1:0] word);
		return word == WORDS - 1 ? '0 : word + 1'b1;
	endfunction
	assign	{f_best_next, f_label_next} = argmax_step(f_word, f_best, f_label, s_axis_tdata);
	assign	s_hs = s_axis_tvalid && s_axis_tready;
	assign	m_hs = m_axis_tvalid && m_axis_tready;
	always_ff @(posedge clk) begin
		f_started <= 1'b1;
		if (!rst_n) begin
			f_word <= '0;  f_owed <= '0;
		end else begin
			if (s_hs) begin
				f_word <= next_word(f_word);
				f_best <= f_best_next;  f_label <= f_label_next;
			end
			f_owed <= f_owed + (s_hs && f_word == WORDS - 1) - m_hs;
			if (m_hs)
				for (int unsigned i = 0; i + 1 < DEPTH; i++)  f_q[i] <= f_q[i + 1];
			if (s_hs && f_word == WORDS - 1)  f_q[3'(f_owed - m_hs)] <= f_label_next;
		end
	end

	// The harness's record of the words taken 1..STAGES cycles ago (h_valid[k]: one was taken k
	// cycles ago, with no reset since), and its running best after each.
	logic  h_valid [STAGES + 1];
	logic [W-1:0]  h_data [STAGES + 1];
	logic [1:0]  h_word [STAGES + 1];
	logic signed [BITS:0]  h_best [STAGES + 1];
	logic [OBITS-1:0]  h_label [STAGES + 1];
	assign	h_valid[0] = s_hs;
	assign	h_data[0] = s_axis_tdata;
	assign	h_word[0] = f_word;
	assign	h_best[0] = f_best_next;
	assign	h_label[0] = f_label_next;
	always_ff @(posedge clk)
		for (int unsigned k = 1; k <= STAGES; k++) begin
			h_valid[k] <= rst_n && h_valid[k - 1];
			h_data[k] <= h_data[k - 1];  h_word[k] <= h_word[k - 1];
			h_best[k] <= h_best[k - 1];  h_label[k] <= h_label[k - 1];
		end
	logic [1:0]  f_passed_word;             // the word of the last word through the running best
	logic signed [BITS:0]  f_passed_best;
	logic [OBITS-1:0]  f_passed_label;
	always_ff @(posedge clk)
		if (!rst_n)  f_passed_word <= WORDS - 1;
		else if (h_valid[2]) begin
			f_passed_word <= h_word[2];  f_passed_best <= h_best[2];  f_passed_label <= h_label[2];
		end
	logic [2:0]  f_in_flight;               // complete images whose label is not yet in the queue
	always_comb begin
		f_in_flight = '0;
		for (int unsigned k = 1; k <= STAGES; k++)
			f_in_flight = f_in_flight + (h_valid[k] && h_word[k] == WORDS - 1);
	end

	logic [1:0]  f_oldest;                  // stage of the oldest complete image in flight (0: none)
	always_comb begin
		f_oldest = '0;
		for (int unsigned k = 1; k <= STAGES; k++)
			if (h_valid[k] && h_word[k] == WORDS - 1)  f_oldest = 2'(k);
	end

	always_comb if (rst_n && f_started) begin
		assert(f_owed <= DEPTH - STAGES && f_in_flight <= 1);  // s_tready: count + STAGES + 1 < DEPTH
		if (m_axis_tvalid)  assert(f_owed != 0 && m_axis_tdata == f_q[0]);
`ifndef BNN2HW_F_INTERFACE_ONLY  // inductive invariants on the DUT's state
		assert(dut.word == f_word);
		assert(dut.count == f_owed - f_in_flight && dut.count <= DEPTH);
		assert(dut.out_fifo.wr_ptr == 3'(dut.out_fifo.rd_ptr + dut.count));
		for (int unsigned i = 0; i < DEPTH; i++)
			if (i < dut.count)  assert(dut.out_fifo.mem[3'(dut.out_fifo.rd_ptr + i)] == f_q[i]);
		if (f_passed_word != WORDS - 1)  assert(dut.best == f_passed_best && dut.best_label == f_passed_label);
		// the harness's record is one stream: each stage holds the word after the one ahead of it,
		// with the running best after it
		if (h_valid[2])  assert(h_word[2] == next_word(f_passed_word)
			&& {h_best[2], h_label[2]} == argmax_step(h_word[2], f_passed_best, f_passed_label, h_data[2]));
		if (h_valid[1] && h_valid[2])  assert(h_word[1] == next_word(h_word[2])
			&& {h_best[1], h_label[1]} == argmax_step(h_word[1], h_best[2], h_label[2], h_data[1]));
		if (h_valid[1] && !h_valid[2])  assert(h_word[1] == next_word(f_passed_word)
			&& {h_best[1], h_label[1]} == argmax_step(h_word[1], f_passed_best, f_passed_label, h_data[1]));
		if (h_valid[1])  assert(f_word == next_word(h_word[1]) && f_best == h_best[1] && f_label == h_label[1]);
		else if (h_valid[2])  assert(f_word == next_word(h_word[2]) && f_best == h_best[2] && f_label == h_label[2]);
		else  assert(f_word == next_word(f_passed_word)
			&& (f_word == 0 || (f_best == f_passed_best && f_label == f_passed_label)));
		assert(dut.v1 == h_valid[1] && dut.vt == h_valid[2] && dut.vo == (h_valid[3] && h_word[3] == WORDS - 1));
		if (h_valid[1])
			assert(dut.x1 == h_data[1] && dut.word1 == h_word[1] && dut.first1 == (h_word[1] == 0)
				&& dut.last1 == (h_word[1] == WORDS - 1));
		if (h_valid[2])
			assert(dut.firstt == (h_word[2] == 0) && dut.lastt == (h_word[2] == WORDS - 1)
				&& dut.best_next == h_best[2] && dut.label_next == h_label[2]);
		if (dut.vo)  assert(dut.out_q == h_label[3] && f_q[3'(dut.count)] == h_label[3]);
		// the progress counters: an owed label in flight has waited at most its stage - 1 cycles;
		// one at the queue's head at most the sink's wait plus the pipeline's
		if (f_owed != 0 && dut.count == 0)  assert(f_drains.f_stalled < f_oldest);
		if (dut.count != 0)  assert(f_drains.f_stalled <= f_sink.f_waited + STAGES);
		// an offered word waits while the queue holds 4 or more labels (count + STAGES + 1 = DEPTH):
		// one sink wait for each label it owes beyond 3
		if (s_axis_tvalid && !s_axis_tready)
			assert(f_takes.f_stalled <= f_sink.f_waited + 1 + N * (dut.count + f_in_flight - 4));
		if (!s_axis_tvalid)  assert(f_takes.f_stalled == 0);
`endif
	end

	bnn2hw_f_progress #(.BOUND(LATENCY + N)) f_drains (.clk, .rst_n, .pending(f_owed != 0), .progress(m_hs));
	bnn2hw_f_progress #(.BOUND(2 * N + 2)) f_takes (.clk, .rst_n, .pending(s_axis_tvalid), .progress(s_hs));
endmodule
