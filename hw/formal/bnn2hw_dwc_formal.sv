// Formal harness of bnn2hw_dwc, in both directions at widths that do not divide each other:
// E = 2-bit elements, IN_N = 3 -> OUT_N = 2 (UP = 0) or IN_N = 2 -> OUT_N = 3 (UP = 1).
//
// Proves: the AXI-stream rules (assumed on s_axis, asserted on m_axis, nothing offered the cycle
// after reset); conservation at element level: the element at a position chosen by the solver
// (f_idx, held constant) leaves at the same position, once, unchanged (so elements keep their
// order across word boundaries); the buffer never holds more than IN_N + OUT_N elements; no
// deadlock: with OUT_N elements held a word leaves within N cycles, an offered word is taken
// within TAKE_BOUND cycles
// (ceil(IN_N / OUT_N) output words must leave first).
// Mode: k-induction (`mode prove`); it closes with the invariants that tie the DUT's fill level
// and buffer to the harness's element counters (they name dut.count and dut.buffer; the buffer is zero above
// the fill level, since a word is ORed in there).
module bnn2hw_dwc_formal #(
	int unsigned UP = 0,
	int unsigned E = 2,
	int unsigned N = 3,
	localparam int unsigned IN_N = UP ? 2 : 3,
	localparam int unsigned OUT_N = UP ? 3 : 2,
	localparam int unsigned CAP = IN_N + OUT_N,
	localparam int unsigned CW = 5,               // element positions mod 32 > CAP + IN_N
	// a full buffer takes the next word after ceil(IN_N / OUT_N) output words
	localparam int unsigned TAKE_BOUND = (IN_N + OUT_N - 1) / OUT_N * N + 1
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [IN_N*E-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	input	logic  m_axis_tready,
	input	logic [CW-1:0]  f_idx
);
	logic  s_axis_tready, m_axis_tvalid;
	logic [OUT_N*E-1:0]  m_axis_tdata;
	bnn2hw_dwc #(.E(E), .IN_N(IN_N), .OUT_N(OUT_N)) dut (
		.clk, .rst_n, .s_axis_tdata, .s_axis_tvalid, .s_axis_tready,
		.m_axis_tdata, .m_axis_tvalid, .m_axis_tready
	);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	bnn2hw_f_axis #(.W(IN_N*E), .ASSERT(0)) f_in (.clk, .rst_n, .tdata(s_axis_tdata),
		.tvalid(s_axis_tvalid), .tready(s_axis_tready));
	bnn2hw_f_axis #(.W(OUT_N*E), .ASSERT(1)) f_out (.clk, .rst_n, .tdata(m_axis_tdata),
		.tvalid(m_axis_tvalid), .tready(m_axis_tready));
	bnn2hw_f_fair #(.N(N)) f_sink (.clk, .rst_n, .signal(m_axis_tready));

	logic  f_started = 1'b0;
	always_ff @(posedge clk)  f_started <= 1'b1;
	bnn2hw_f_const #(.W(CW)) f_idx_const (.clk, .value(f_idx));

	// the tracked element: how many elements the converter holds, its place from the next out, its value
	logic  s_hs, m_hs;
	logic [CW-1:0]  f_held, f_ahead;
	logic [E-1:0]  f_elem;
	assign	s_hs = s_axis_tvalid && s_axis_tready;
	assign	m_hs = m_axis_tvalid && m_axis_tready;
	bnn2hw_f_track #(.E(E), .IN_N(IN_N), .OUT_N(OUT_N), .CW(CW)) f_track (.clk, .rst_n, .in_hs(s_hs),
		.in_data(s_axis_tdata), .out_hs(m_hs), .idx(f_idx), .held(f_held), .ahead(f_ahead), .elem(f_elem));

	always_comb if (rst_n && f_started) begin
		assert(f_held <= CAP);
		if (m_hs && f_ahead < OUT_N)  assert(m_axis_tdata[f_ahead * E +: E] == f_elem);
`ifndef BNN2HW_F_INTERFACE_ONLY  // inductive invariants on the DUT's state
		assert(dut.count == f_held);
		assert((dut.buffer >> (dut.count * E)) == '0);   // the DUT ORs a word in above its fill level
		if (f_ahead < f_held)  assert(dut.buffer[f_ahead * E +: E] == f_elem);
`endif
	end

	bnn2hw_f_progress #(.BOUND(N)) f_drains (.clk, .rst_n, .pending(f_held >= OUT_N), .progress(m_hs));
	bnn2hw_f_progress #(.BOUND(TAKE_BOUND)) f_takes (.clk, .rst_n, .pending(s_axis_tvalid), .progress(s_hs));
endmodule
