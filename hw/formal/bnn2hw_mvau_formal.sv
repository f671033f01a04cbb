// Formal harness of bnn2hw_mvau at small sizes: MW = MH = 4, SIMD = 2, PE = 2 (SF = NF = 2 folds).
// INT = 0: binary XNOR mode with thresholds and runtime weights (the AXI-lite port);
// INT = 1: integer-input mode (2-bit signed inputs, bipolar weights, no activation, 5-bit outputs).
// A sink ready at least one cycle in N = 2.
//
// Proves, for all weights and thresholds (the memories are unconstrained):
// * the AXI-stream rules (assumed on s_axis, asserted on m_axis, nothing offered the cycle after
//   reset);
// * word counts: SF input words make a vector and every vector gives NF output words; an output
//   word never leaves before its vector's last input word (the harness's count of owed words,
//   + NF per complete vector and - 1 per word out, is never below 0 while m_tvalid is high);
// * no deadlock: while words are owed one leaves within DRAIN_BOUND cycles (the module's stated
//   latency of TREE_LAT + 6 = 7 cycles after a fold's last input at the default TREE_REG = 2,
//   SF cycles a fold); an offered input word is
//   taken within TAKE_BOUND cycles (the other NF - 1 folds issue first, then the output queue's
//   credit may wait on the sink);
// * the AXI-lite port (INT = 0): the master's rules assumed, the slave's asserted on B and R (valid
//   held until ready, response stable, nothing the cycle after reset); at most one write
//   outstanding and a B response only for an accepted write, an R response only for a read;
//   a write lands in the line its address names, in the bytes its WSTRB names (a byte whose strobe
//   bit is clear keeps its value, as does the rest of the line), and in no other line (checked on
//   a line chosen by the solver, f_line; names dut.wmem). Lines are one 32-bit word here (4-bit
//   lines); the check is written for WORDS words a line, FINN's memstream map;
// * the input schedule: after a vector's last input word, s_tready stays low for the (NF - 1) * SF
//   cycles its other neuron folds need to issue from the input buffer (f_busy): a word taken
//   sooner would overwrite the buffer a fold still reads. It is what catches a skipped neuron fold
//   at once (step 4), where the owed-word count needs the drain bound to run out (22 cycles).
// Modes (proofs.toml): mvau_xnor / mvau_int, bounded model checking with z3 to 14 cycles (reset,
// two vectors in and the first words out; z3 only, so they run wherever the suite runs);
// mvau_xnor_deep / mvau_int_deep, the same harness proven for all depths by ABC's IC3/PDR
// (`abc pdr`, seconds), which finds the invariants on the pipeline's registers (nf, sf, the stage
// valid bits, the queue's credit) itself. Not smtbmc's k-induction: that would need those
// invariants written here, tied to a pipeline that keeps changing, and the bounded-liveness
// counters (DRAIN_BOUND, TAKE_BOUND) related to them; the harness names only the ports and the
// weight memory.
module bnn2hw_mvau_formal #(
	int unsigned INT = 0,
	int unsigned N = 2,
	localparam int unsigned MW = 4, MH = 4, SIMD = 2, PE = 2,
	localparam int unsigned SF = MW / SIMD, NF = MH / PE,
	localparam int unsigned IN_W = SIMD * (INT ? 2 : 1),
	localparam int unsigned OBITS = INT ? 5 : 1,
	localparam int unsigned OUT_W = PE * OBITS,
	localparam int unsigned RUNTIME = INT ? 0 : 1,
	localparam int unsigned WORDS = 1,                    // 32-bit words per weight line (4-bit lines)
	localparam int unsigned AW = $clog2(SF * NF * WORDS) + 2,
	localparam int unsigned TREE_LAT = 1, LATENCY = TREE_LAT + 6, FIFO_D = 16,  // bnn2hw_mvau's, SIMD = 2
	localparam int unsigned DRAIN_BOUND = (N > SF + LATENCY ? N : SF + LATENCY) + 1,
	localparam int unsigned TAKE_BOUND = NF * SF + N + LATENCY,
	localparam int unsigned BUSY = (NF - 1) * SF         // cycles without input after a vector's last word
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [IN_W-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	input	logic  m_axis_tready,
	input	logic  awvalid, wvalid, bready, arvalid, rready,
	input	logic [AW-1:0]  awaddr, araddr,
	input	logic [31:0]  wdata,
	input	logic [3:0]  wstrb,
	input	logic [$clog2(SF * NF)-1:0]  f_line
);
	logic  s_axis_tready, m_axis_tvalid;
	logic [OUT_W-1:0]  m_axis_tdata;
	logic  awready, wready, bvalid, arready, rvalid;
	logic [1:0]  bresp, rresp;
	logic [31:0]  rdata;
	bnn2hw_mvau #(.MW(MW), .MH(MH), .PE(PE), .SIMD(SIMD), .XNOR(INT ? 0 : 1), .IBITS(INT ? 2 : 1),
		.ISIGNED(INT), .WBITS(1), .WBIPOLAR(1), .ACC_BITS(INT ? 5 : 4), .NO_ACT(INT), .STEPS(1),
		.TBITS(4), .OBITS(OBITS), .RUNTIME_WEIGHTS(RUNTIME)) dut (
		.clk, .rst_n,
		.s_axilite_AWVALID(awvalid), .s_axilite_AWREADY(awready), .s_axilite_AWADDR(awaddr),
		.s_axilite_WVALID(wvalid), .s_axilite_WREADY(wready), .s_axilite_WDATA(wdata), .s_axilite_WSTRB(wstrb),
		.s_axilite_BVALID(bvalid), .s_axilite_BREADY(bready), .s_axilite_BRESP(bresp),
		.s_axilite_ARVALID(arvalid), .s_axilite_ARREADY(arready), .s_axilite_ARADDR(araddr),
		.s_axilite_RVALID(rvalid), .s_axilite_RREADY(rready), .s_axilite_RDATA(rdata), .s_axilite_RRESP(rresp),
		.s_axis_tdata, .s_axis_tvalid, .s_axis_tready, .m_axis_tdata, .m_axis_tvalid, .m_axis_tready
	);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	bnn2hw_f_axis #(.W(IN_W), .ASSERT(0)) f_in (.clk, .rst_n, .tdata(s_axis_tdata), .tvalid(s_axis_tvalid),
		.tready(s_axis_tready));
	bnn2hw_f_axis #(.W(OUT_W), .ASSERT(1)) f_out (.clk, .rst_n, .tdata(m_axis_tdata), .tvalid(m_axis_tvalid),
		.tready(m_axis_tready));
	bnn2hw_f_fair #(.N(N)) f_sink (.clk, .rst_n, .signal(m_axis_tready));

	// ---- word counts and progress on the streams ----
	logic  s_hs, m_hs, f_started = 1'b0;
	logic [1:0]  f_sf;          // input words taken of the current vector
	logic [5:0]  f_owed;        // output words owed: NF per complete vector, less the words out
	assign	s_hs = s_axis_tvalid && s_axis_tready;
	assign	m_hs = m_axis_tvalid && m_axis_tready;
	always_ff @(posedge clk) begin
		f_started <= 1'b1;
		if (!rst_n) begin
			f_sf <= '0;  f_owed <= '0;
		end else begin
			if (s_hs)  f_sf <= f_sf == SF - 1 ? '0 : f_sf + 1'b1;
			f_owed <= f_owed + (s_hs && f_sf == SF - 1 ? NF : 0) - m_hs;
		end
	end
	always_comb if (rst_n && f_started) begin
		if (m_axis_tvalid)  assert(f_owed != 0);
		assert(f_owed <= 2 * NF + FIFO_D);
	end
	// the input buffer holds one vector: after a vector's last input word its other NF - 1 neuron
	// folds issue from the buffer (SF issues each, one a cycle at most), and no input word is
	// offered a place until they have (FINN's MVAU schedule; a word taken sooner would overwrite
	// the buffer a fold still reads, or a fold is skipped)
	logic [$clog2(BUSY + 1)-1:0]  f_busy;    // cycles left of the buffered vector's other folds
	always_ff @(posedge clk)
		if (!rst_n)  f_busy <= '0;
		else if (s_hs && f_sf == SF - 1)  f_busy <= BUSY;
		else if (f_busy != 0)  f_busy <= f_busy - 1'b1;
	always_comb  if (rst_n && f_started && f_busy != 0)  assert(!s_axis_tready);
	bnn2hw_f_progress #(.BOUND(DRAIN_BOUND)) f_drains (.clk, .rst_n, .pending(f_owed != 0), .progress(m_hs));
	bnn2hw_f_progress #(.BOUND(TAKE_BOUND)) f_takes (.clk, .rst_n, .pending(s_axis_tvalid), .progress(s_hs));

	// ---- AXI-lite: the master's rules assumed, the slave's asserted ----
	bnn2hw_f_axis #(.W(AW), .ASSERT(0)) f_aw (.clk, .rst_n, .tdata(awaddr), .tvalid(awvalid), .tready(awready));
	bnn2hw_f_axis #(.W(36), .ASSERT(0)) f_w (.clk, .rst_n, .tdata({wstrb, wdata}), .tvalid(wvalid), .tready(wready));
	bnn2hw_f_axis #(.W(AW), .ASSERT(0)) f_ar (.clk, .rst_n, .tdata(araddr), .tvalid(arvalid), .tready(arready));
	bnn2hw_f_axis #(.W(2), .ASSERT(1)) f_b (.clk, .rst_n, .tdata(bresp), .tvalid(bvalid), .tready(bready));
	bnn2hw_f_axis #(.W(34), .ASSERT(1)) f_r (.clk, .rst_n, .tdata({rresp, rdata}), .tvalid(rvalid), .tready(rready));
	logic [1:0]  f_writes, f_reads;       // accepted and not yet answered
	logic  aw_hs, w_hs;
	assign	aw_hs = awvalid && awready;
	assign	w_hs = wvalid && wready;
	always_ff @(posedge clk)
		if (!rst_n) begin
			f_writes <= '0;  f_reads <= '0;
		end else begin
			f_writes <= f_writes + aw_hs - (bvalid && bready);
			f_reads <= f_reads + (arvalid && arready) - (rvalid && rready);
		end
	always_comb if (rst_n && f_started) begin
		assert(aw_hs == w_hs);                 // address and data are taken together
		assert(f_writes <= 1 && f_reads <= 1);
		if (bvalid)  assert(f_writes == 1);
		if (rvalid)  assert(f_reads == 1);
		if (!RUNTIME)  assert(!awready && !wready);
	end

	// ---- a write lands in the line its address names, in the bytes WSTRB names, and nowhere else ----
	// The line after a cycle is the line before it with, for a write to its word k, byte b of word
	// k replaced by the write's byte b where WSTRB[b] is set; every other byte keeps its value.
	if (RUNTIME) begin : g_lands
		logic [$clog2(SF * NF)-1:0]  f_line_q;
		logic [32*WORDS-1:0]  f_expect;
		always_ff @(posedge clk) begin
			f_line_q <= f_line;
			for (int unsigned j = 0; j < 4 * WORDS; j++)
				f_expect[8 * j +: 8] <= aw_hs && awaddr[AW-1:2] / WORDS == f_line && awaddr[AW-1:2] % WORDS == j / 4
				                        && wstrb[j % 4] ? wdata[8 * (j % 4) +: 8] : dut.wmem[f_line][8 * j +: 8];
		end
		always_comb  if (f_started)  assume(f_line == f_line_q);
		always_comb  if (f_started)  assert(dut.wmem[f_line] == f_expect);
	end
endmodule
