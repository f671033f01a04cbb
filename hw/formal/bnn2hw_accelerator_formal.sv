// Formal harness of the stitched `accelerator` of an `--impl rtl` build (bnn2hw.eda.stitch), at
// its AXI-stream boundary: s_axis_0 (the input words, FINN's packing) and m_axis_0 (the output
// words). The build is generated for the proof (proofs.toml `build`: TFC on 8x8 digits, random
// weights, folded for 12.5 M frames/s at 100 MHz: FRAME_WORDS = 8 input words of 64 bits per
// frame, 8 cycles a frame in every layer, OUT_WORDS = 1 label word out; FIFO depths as the
// build's Verilator sizing left them). bnn2hw.eda.formal passes IN_W, OUT_W, FRAME_WORDS and
// OUT_WORDS from the build's manifest. The weight and threshold memories are the build's .dat
// images, but they drop out with the layers' datapaths (the cut below): a proof about the
// handshakes, not the arithmetic.
// A sink ready at least one cycle in N = 2; the source is free (any stalls, any data).
//
// Proves, to the BMC depth:
// * the AXI-stream rules: assumed on s_axis_0, asserted on m_axis_0 (nothing offered the cycle
//   after a reset; once m_axis_0_tvalid is high it stays high, with m_axis_0_tdata unchanged,
//   until m_axis_0_tready);
// * word counts: OUT_WORDS output words per FRAME_WORDS input words: an output word never leaves
//   before its frame's last input word is taken (the harness's count of owed output words, + OUT_WORDS
//   per complete frame and - 1 per word out, is never below 0: m_axis_0_tvalid only while words
//   are owed, and the count never wraps);
// * progress: while an output word is owed, one leaves within DRAIN_BOUND = 88 cycles; in
//   particular the first frame's label leaves within 88 cycles of its last input word (its
//   earliest possible exit is step 91 of the trace, 82 cycles after its last word at step 9: each
//   layer waits for a whole vector, through its width converter, before its pipeline); an offered
//   input word is taken within TAKE_BOUND = 16 cycles.
// Abstraction (proofs.toml `script`): each layer's output data (the top's n<i>_out_tdata) is a cut
// point, a free value every cycle, so the layers' datapaths and memories drop out of the model;
// their handshake logic, the stitched FIFOs and width converters (data included) stay. Sound for
// these properties: the cut only adds behaviours, and no layer's handshakes read its data.
// finn-rtllib's thresholding simulation checks (`!== 1'bx`) are removed: they mean nothing to a solver.
// Mode: bounded model checking (`mode bmc`) to depth 100 with ABC's bmc3 (proofs.toml): reset,
// one whole frame in (steps 2-9 at the earliest) and the 88 cycles of DRAIN_BOUND after it, so the
// first frame's output is inside the bound (a frame whose last word is in by step 11 is checked
// for its whole bound). About 4 CPU minutes (the Yosys front end on the full build, then bmc3);
// smtbmc with z3 reached only 30 steps in 11 minutes. Not k-induction: it would need invariants
// on every layer's pipeline and FIFO (each module's own proof has them or its BMC); the layers'
// values are not checked here (Verilator's rungs against bnn2hw.sim are).
module bnn2hw_accelerator_formal #(
	int unsigned IN_W = 64,
	int unsigned OUT_W = 8,
	int unsigned FRAME_WORDS = 8,
	int unsigned OUT_WORDS = 1,
	int unsigned N = 2,
	int unsigned DRAIN_BOUND = 88,
	int unsigned TAKE_BOUND = 16,
	localparam int unsigned OWED_MAX = 255
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [IN_W-1:0]  s_axis_0_tdata,
	input	logic  s_axis_0_tvalid,
	input	logic  m_axis_0_tready
);
	logic  s_axis_0_tready, m_axis_0_tvalid;
	logic [OUT_W-1:0]  m_axis_0_tdata;
	accelerator dut (.ap_clk(clk), .ap_rst_n(rst_n), .s_axis_0_tdata, .s_axis_0_tvalid, .s_axis_0_tready,
		.m_axis_0_tdata, .m_axis_0_tvalid, .m_axis_0_tready);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	bnn2hw_f_axis #(.W(IN_W), .ASSERT(0)) f_in (.clk, .rst_n, .tdata(s_axis_0_tdata), .tvalid(s_axis_0_tvalid),
		.tready(s_axis_0_tready));
	bnn2hw_f_axis #(.W(OUT_W), .ASSERT(1)) f_out (.clk, .rst_n, .tdata(m_axis_0_tdata), .tvalid(m_axis_0_tvalid),
		.tready(m_axis_0_tready));
	bnn2hw_f_fair #(.N(N)) f_sink (.clk, .rst_n, .signal(m_axis_0_tready));

	// ---- word counts at the boundary ----
	logic  s_hs, m_hs, f_started = 1'b0;
	logic [$clog2(FRAME_WORDS + 1)-1:0]  f_word;   // input words taken of the current frame
	logic [8:0]  f_owed;                           // output words owed (one bit more than OWED_MAX)
	assign	s_hs = s_axis_0_tvalid && s_axis_0_tready;
	assign	m_hs = m_axis_0_tvalid && m_axis_0_tready;
	always_ff @(posedge clk) begin
		f_started <= 1'b1;
		if (!rst_n) begin
			f_word <= '0;  f_owed <= '0;
		end else begin
			if (s_hs)  f_word <= f_word == FRAME_WORDS - 1 ? '0 : f_word + 1'b1;
			f_owed <= f_owed + (s_hs && f_word == FRAME_WORDS - 1 ? OUT_WORDS : 0) - m_hs;
		end
	end
	always_comb if (rst_n && f_started) begin
		if (m_axis_0_tvalid)  assert(f_owed != 0);    // no word out before its frame is in
		assert(f_owed <= OWED_MAX);                     // the count never went below 0
	end
	bnn2hw_f_progress #(.BOUND(DRAIN_BOUND)) f_drains (.clk, .rst_n, .pending(f_owed != 0), .progress(m_hs));
	bnn2hw_f_progress #(.BOUND(TAKE_BOUND)) f_takes (.clk, .rst_n, .pending(s_axis_0_tvalid), .progress(s_hs));
endmodule
