// Formal harness of bnn2hw_uart_passes (the UART shell's passes gate; IN_WORDS = 2 words a frame,
// DEPTH = 2 queued K, K of 2 bits). The framer side is the solver's within the framer's contract:
// a frame's K is committed before its first word is offered, at most DEPTH frames wait, fewer
// frames are outstanding than the in-flight counter holds (the host's TOKENS bound), and the
// words follow the AXI-stream rules (assumed on s_axis); `frame_done` (the replier took a frame's
// last output word) only while a frame is in flight; the accelerator's tready is the solver's.
//
// Proves: the AXI-stream rules on m_axis (the gate never withdraws an offered word); every frame
// enters the accelerator under its own K (at its first word's handshake ens_passes is the K
// committed with it); ens_passes changes only while no frame is in flight (the sampler's and the
// replay's pass counters see one K per image); no deadlock: with nothing in flight, an offered
// word goes through to the accelerator within 2 cycles.
// Mode: bounded model checking (`mode bmc`, depth in proofs.toml: 8 cycles, two frames of
// different K, the second held until the first is done; 12 took 394 s here against 17 s).
module bnn2hw_uart_passes_formal #(
	int unsigned IN_WIDTH = 4,
	int unsigned IN_WORDS = 2,
	int unsigned DEPTH = 2
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic  commit,
	input	logic [15:0]  commit_passes,
	input	logic [IN_WIDTH-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	input	logic  m_axis_tready,
	input	logic  frame_done
);
	logic [IN_WIDTH-1:0]  m_axis_tdata;
	logic  m_axis_tvalid, s_axis_tready;
	logic [15:0]  ens_passes;
	bnn2hw_uart_passes #(.IN_WIDTH(IN_WIDTH), .IN_WORDS(IN_WORDS), .DEPTH(DEPTH), .INFLIGHT_BITS(3)) dut (
		.clk, .rst_n, .commit, .commit_passes, .s_axis_tdata, .s_axis_tvalid, .s_axis_tready,
		.m_axis_tdata, .m_axis_tvalid, .m_axis_tready, .frame_done, .ens_passes
	);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	bnn2hw_f_axis #(.W(IN_WIDTH), .ASSERT(0)) f_in (.clk, .rst_n, .tdata(s_axis_tdata), .tvalid(s_axis_tvalid),
		.tready(s_axis_tready));
	bnn2hw_f_axis #(.W(IN_WIDTH), .ASSERT(1)) f_out (.clk, .rst_n, .tdata(m_axis_tdata), .tvalid(m_axis_tvalid),
		.tready(m_axis_tready));

	// the harness's mirror: committed K not yet started, the current frame's word, frames in flight
	logic  f_started = 1'b0, m_hs, first_hs;
	logic [15:0]  f_k [DEPTH];
	logic [$clog2(DEPTH)-1:0]  f_head, f_tail;
	logic [$clog2(DEPTH):0]  f_waiting;
	logic  f_word;
	logic [2:0]  f_inflight, f_inflight_q;
	logic [15:0]  f_passes_q;
	logic  f_rst_n_q;
	assign	m_hs = m_axis_tvalid && m_axis_tready;
	assign	first_hs = m_hs && !f_word;
	always_comb begin
		assume(commit_passes < 16'd4);
		if (commit)  assume(f_waiting < DEPTH && f_waiting + f_inflight < 6 && rst_n);  // < TOKENS outstanding
		if (s_axis_tvalid && !f_word)  assume(f_waiting != 0);      // no word of an uncommitted frame
		if (frame_done)  assume(f_inflight != 0 && !first_hs);
	end
	always_ff @(posedge clk) begin
		f_started <= 1'b1;
		f_inflight_q <= f_inflight;
		f_passes_q <= ens_passes;
		f_rst_n_q <= rst_n;
		if (!rst_n) begin
			f_head <= '0;  f_tail <= '0;  f_waiting <= '0;  f_word <= 1'b0;  f_inflight <= '0;
		end else begin
			if (commit) begin
				f_k[f_tail] <= commit_passes;
				f_tail <= f_tail + 1'b1;
			end
			if (first_hs)  f_head <= f_head + 1'b1;
			if (m_hs)  f_word <= !f_word;
			f_waiting <= f_waiting + commit - first_hs;
			f_inflight <= f_inflight + first_hs - frame_done;
		end
	end

	always_comb if (rst_n && f_started) begin
		if (first_hs)  assert(ens_passes == f_k[f_head]);
		if (f_rst_n_q && ens_passes != f_passes_q)  assert(f_inflight_q == 0);   // changed at the last edge
	end
	bnn2hw_f_progress #(.BOUND(2)) f_goes (.clk, .rst_n, .pending(s_axis_tvalid && f_inflight == 0 && m_axis_tready),
		.progress(m_hs));
endmodule
