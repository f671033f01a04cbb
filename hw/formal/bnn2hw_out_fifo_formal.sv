// Formal harness of bnn2hw_out_fifo (W = 4, DEPTH = 4; a sink ready at least one cycle in N = 3).
//
// The producer's contract is assumed: it pushes only while `count` < DEPTH (what every bnn2hw
// layer checks before it pushes). Proves: the AXI-stream rules on m_axis (nothing offered the
// cycle after reset); `count` is the number of words held, never over DEPTH; conservation: the
// word pushed at a position chosen by the solver (f_idx, held constant) leaves at the same
// position, once, unchanged; no deadlock: a held word leaves within N cycles.
// Mode: k-induction (`mode prove`); it closes with the invariants that tie the FIFO's pointers and
// memory to the harness's counters (they name dut.rd_ptr, dut.wr_ptr, dut.mem).
module bnn2hw_out_fifo_formal #(
	int unsigned W = 4,
	int unsigned DEPTH = 4,
	int unsigned N = 3,
	localparam int unsigned CW = 4,
	localparam int unsigned PW = $clog2(DEPTH)      // the DUT's pointer width
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic  push,
	input	logic [W-1:0]  push_data,
	input	logic  m_axis_tready,
	input	logic [CW-1:0]  f_idx
);
	logic [$clog2(DEPTH):0]  count;
	logic  m_axis_tvalid;
	logic [W-1:0]  m_axis_tdata;
	bnn2hw_out_fifo #(.W(W), .DEPTH(DEPTH)) dut (
		.clk, .rst_n, .push, .push_data, .count, .m_axis_tdata, .m_axis_tvalid, .m_axis_tready
	);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	bnn2hw_f_axis #(.W(W), .ASSERT(1)) f_out (.clk, .rst_n, .tdata(m_axis_tdata), .tvalid(m_axis_tvalid),
		.tready(m_axis_tready));
	bnn2hw_f_fair #(.N(N)) f_sink (.clk, .rst_n, .signal(m_axis_tready));

	logic  f_started = 1'b0;
	always_ff @(posedge clk)  f_started <= 1'b1;
	bnn2hw_f_const #(.W(CW)) f_idx_const (.clk, .value(f_idx));
	always_comb  if (push)  assume(count < DEPTH && rst_n);     // the producer's side of the contract

	logic  m_hs;
	logic [CW-1:0]  f_held, f_ahead;
	logic [W-1:0]  f_word;
	assign	m_hs = m_axis_tvalid && m_axis_tready;
	bnn2hw_f_track #(.E(W), .CW(CW)) f_track (.clk, .rst_n, .in_hs(push), .in_data(push_data), .out_hs(m_hs),
		.idx(f_idx), .held(f_held), .ahead(f_ahead), .elem(f_word));

	always_comb if (rst_n && f_started) begin
		assert(count == f_held && f_held <= DEPTH);
		if (m_hs && f_ahead == 0)  assert(m_axis_tdata == f_word);
`ifndef BNN2HW_F_INTERFACE_ONLY  // inductive invariants on the DUT's state
		assert(dut.wr_ptr == PW'(dut.rd_ptr + count));
		if (f_ahead < f_held)  assert(dut.mem[PW'(dut.rd_ptr + f_ahead)] == f_word);
`endif
	end

	bnn2hw_f_progress #(.BOUND(N)) f_drains (.clk, .rst_n, .pending(f_held != 0), .progress(m_hs));
endmodule
