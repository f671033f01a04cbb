// Formal harness of bnn2hw_label_select (LABELS = 6 scores as WORDS = 3 words of PE = 2 signed
// 3-bit scores, FLOOR = -4, a 3-bit label; a sink ready at least one cycle in N = 5, slower than
// one image in WORDS cycles, so that the output queue can fill).
//
// Proves: the AXI-stream rules (assumed on s_axis, asserted on m_axis, nothing offered the cycle
// after reset); word counts: one output word per WORDS input words, never before the image's last
// input word (the harness's count of owed labels stays within 0..2, the output queue's depth);
// the label that leaves is the index of the first highest score (the harness's own running
// arg-max, ties keeping the lower index); no deadlock: an owed label leaves within N cycles, an
// offered word is taken within N + 1 cycles.
// Mode: k-induction (`mode prove`); it closes with the invariants that tie the DUT's word position,
// running best and queue to the harness's (dut.word, dut.best, dut.label, dut.count, the output
// queue's pointers and memory).
module bnn2hw_label_select_formal #(
	int unsigned LABELS = 6,
	int unsigned PE = 2,
	int unsigned BITS = 3,
	int FLOOR = -4,
	int unsigned OBITS = 3,
	int unsigned N = 5,
	localparam int unsigned W = PE * BITS,
	localparam int unsigned WORDS = LABELS / PE
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
	logic [2:0]  f_owed;                    // images complete whose label has not left
	logic signed [BITS:0]  f_best, f_best_next;
	logic [OBITS-1:0]  f_label, f_label_next;
	logic [OBITS-1:0]  f_q [2];             // the owed labels, oldest first
	always_comb begin       // the running arg-max after this word (the harness's own, lane by lane)
		f_best_next = f_word == 0 ? (BITS + 1)'(FLOOR) : f_best;
		f_label_next = f_word == 0 ? '0 : f_label;
		for (int unsigned p = 0; p < PE; p++)
			if ($signed(s_axis_tdata[p * BITS +: BITS]) > f_best_next) begin
				f_best_next = $signed(s_axis_tdata[p * BITS +: BITS]);
				f_label_next = OBITS'(f_word * PE + p);
			end
	end
	assign	s_hs = s_axis_tvalid && s_axis_tready;
	assign	m_hs = m_axis_tvalid && m_axis_tready;
	always_ff @(posedge clk) begin
		f_started <= 1'b1;
		if (!rst_n) begin
			f_word <= '0;  f_owed <= '0;
		end else begin
			if (s_hs) begin
				f_word <= f_word == WORDS - 1 ? '0 : f_word + 1'b1;
				f_best <= f_best_next;  f_label <= f_label_next;
			end
			f_owed <= f_owed + (s_hs && f_word == WORDS - 1) - m_hs;
			if (m_hs)  f_q[0] <= f_q[1];
			if (s_hs && f_word == WORDS - 1)  f_q[f_owed - m_hs] <= f_label_next;
		end
	end

	always_comb if (rst_n && f_started) begin
		assert(f_owed <= 2);
		if (m_axis_tvalid)  assert(f_owed != 0 && m_axis_tdata == f_q[0]);
`ifndef BNN2HW_F_INTERFACE_ONLY  // inductive invariants on the DUT's state
		assert(dut.word == f_word && dut.count == f_owed);
		if (f_word != 0)  assert(dut.best == f_best && dut.label == f_label);
		assert(dut.out_fifo.wr_ptr == 1'(dut.out_fifo.rd_ptr + dut.count));
		if (f_owed == 2)  assert(dut.out_fifo.mem[!dut.out_fifo.rd_ptr] == f_q[1]);
`endif
	end

	bnn2hw_f_progress #(.BOUND(N)) f_drains (.clk, .rst_n, .pending(f_owed != 0), .progress(m_hs));
	bnn2hw_f_progress #(.BOUND(N + 1)) f_takes (.clk, .rst_n, .pending(s_axis_tvalid), .progress(s_hs));
endmodule
