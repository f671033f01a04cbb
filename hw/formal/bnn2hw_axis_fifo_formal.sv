// Formal harness of bnn2hw_axis_fifo (W = 4, DEPTH = 3: not a power of two, so the pointer wrap
// is exercised; a sink ready at least one cycle in N = 3).
//
// Proves: the AXI-stream rules (assumed on s_axis, asserted on m_axis, nothing offered the cycle
// after reset); conservation: the word at a position chosen by the solver (f_idx, held constant)
// leaves at the same position, once, unchanged, so every word comes out once and in order; the
// FIFO never holds more than DEPTH words; no deadlock: a held word leaves within N cycles and an
// offered word is taken within N + 1 cycles.
// Mode: k-induction (`mode prove`). It closes because the harness also asserts the invariants
// that tie the FIFO's state to the harness's counters (count = words in - words out, the write
// pointer = read pointer + count mod DEPTH, the tracked word sits where the read pointer will
// reach it); they name the DUT's registers (dut.count, dut.rd_ptr, dut.wr_ptr, dut.mem).
module bnn2hw_axis_fifo_formal #(
	int unsigned W = 4,
	int unsigned DEPTH = 3,
	int unsigned N = 3,
	localparam int unsigned CW = 4          // positions mod 16 > DEPTH
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [W-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	input	logic  m_axis_tready,
	input	logic [CW-1:0]  f_idx
);
	logic  s_axis_tready, m_axis_tvalid;
	logic [W-1:0]  m_axis_tdata;
	bnn2hw_axis_fifo #(.W(W), .DEPTH(DEPTH)) dut (
		.clk, .rst_n, .s_axis_tdata, .s_axis_tvalid, .s_axis_tready,
		.m_axis_tdata, .m_axis_tvalid, .m_axis_tready
	);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	bnn2hw_f_axis #(.W(W), .ASSERT(0)) f_in (.clk, .rst_n, .tdata(s_axis_tdata), .tvalid(s_axis_tvalid),
		.tready(s_axis_tready));
	bnn2hw_f_axis #(.W(W), .ASSERT(1)) f_out (.clk, .rst_n, .tdata(m_axis_tdata), .tvalid(m_axis_tvalid),
		.tready(m_axis_tready));
	bnn2hw_f_fair #(.N(N)) f_sink (.clk, .rst_n, .signal(m_axis_tready));

	// the tracked position: any value, held for the whole trace
	logic  f_started = 1'b0;
	always_ff @(posedge clk)  f_started <= 1'b1;
	bnn2hw_f_const #(.W(CW)) f_idx_const (.clk, .value(f_idx));

	// the tracked word: how many words the FIFO holds, its place from the head, its value
	logic  s_hs, m_hs;
	logic [CW-1:0]  f_held, f_ahead;
	logic [W-1:0]  f_word;
	assign	s_hs = s_axis_tvalid && s_axis_tready;
	assign	m_hs = m_axis_tvalid && m_axis_tready;
	bnn2hw_f_track #(.E(W), .CW(CW)) f_track (.clk, .rst_n, .in_hs(s_hs), .in_data(s_axis_tdata), .out_hs(m_hs),
		.idx(f_idx), .held(f_held), .ahead(f_ahead), .elem(f_word));

	always_comb if (rst_n && f_started) begin
		assert(f_held <= DEPTH);
		if (m_hs && f_ahead == 0)  assert(m_axis_tdata == f_word);
`ifndef BNN2HW_F_INTERFACE_ONLY  // inductive invariants on the DUT's state
		assert(dut.count == f_held);
		assert(dut.rd_ptr < DEPTH && dut.wr_ptr < DEPTH);
		assert(dut.wr_ptr == (dut.rd_ptr + dut.count) % DEPTH);
		if (f_ahead < f_held)  assert(dut.mem[(dut.rd_ptr + f_ahead) % DEPTH] == f_word);
`endif
	end

	bnn2hw_f_progress #(.BOUND(N)) f_drains (.clk, .rst_n, .pending(f_held != 0), .progress(m_hs));
	bnn2hw_f_progress #(.BOUND(N + 1)) f_takes (.clk, .rst_n, .pending(s_axis_tvalid), .progress(s_hs));
endmodule
