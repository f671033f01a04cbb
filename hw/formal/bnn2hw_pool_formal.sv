// Formal harness of bnn2hw_pool (PE = 2 lanes of BITS = 2 signed bits, windows of K = 3 words;
// a sink ready at least one cycle in N = 7, slower than one window in K
// cycles, so that the output queue can fill).
//
// Proves: the AXI-stream rules (assumed on s_axis, asserted on m_axis, nothing offered the cycle
// after reset); word counts: one output word per K input words, never an output before its
// window's last input word (the harness's count of owed words never goes below 0 nor above the
// output queue's 2), and a window's maximum is what leaves (checked on the tracked lane 0: the
// output equals the largest of the K inputs the harness saw); no deadlock: an owed word leaves
// within N cycles, an offered word is taken within N + 1 cycles.
// Mode: k-induction (`mode prove`); it closes with the invariants that tie the DUT's window
// position and queue level to the harness's counters (dut.kpos, dut.count, dut.best, the output queue's pointers and memory).
module bnn2hw_pool_formal #(
	int unsigned PE = 2,
	int unsigned K = 3,
	int unsigned BITS = 2,
	int unsigned N = 7,
	localparam int unsigned W = PE * BITS
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [W-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	input	logic  m_axis_tready
);
	logic  s_axis_tready, m_axis_tvalid;
	logic [W-1:0]  m_axis_tdata;
	bnn2hw_pool #(.PE(PE), .K(K), .BITS(BITS), .SIGNED(1)) dut (
		.clk, .rst_n, .s_axis_tdata, .s_axis_tvalid, .s_axis_tready,
		.m_axis_tdata, .m_axis_tvalid, .m_axis_tready
	);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	bnn2hw_f_axis #(.W(W), .ASSERT(0)) f_in (.clk, .rst_n, .tdata(s_axis_tdata), .tvalid(s_axis_tvalid),
		.tready(s_axis_tready));
	bnn2hw_f_axis #(.W(W), .ASSERT(1)) f_out (.clk, .rst_n, .tdata(m_axis_tdata), .tvalid(m_axis_tvalid),
		.tready(m_axis_tready));
	bnn2hw_f_fair #(.N(N)) f_sink (.clk, .rst_n, .signal(m_axis_tready));

	logic  s_hs, m_hs, f_started = 1'b0;
	logic [1:0]  f_k;                 // input words taken of the current window
	logic [2:0]  f_owed;              // windows complete whose output word has not left
	logic signed [BITS-1:0]  f_max, f_lane0;
	logic signed [BITS-1:0]  f_q_max [2];   // lane-0 maxima of the owed windows, oldest first
	assign	s_hs = s_axis_tvalid && s_axis_tready;
	assign	m_hs = m_axis_tvalid && m_axis_tready;
	assign	f_lane0 = s_axis_tdata[BITS-1:0];
	always_ff @(posedge clk) begin
		f_started <= 1'b1;
		if (!rst_n) begin
			f_k <= '0;  f_owed <= '0;
		end else begin
			if (s_hs) begin
				f_k <= f_k == K - 1 ? '0 : f_k + 1'b1;
				f_max <= f_k == 0 || f_lane0 > f_max ? f_lane0 : f_max;
			end
			f_owed <= f_owed + (s_hs && f_k == K - 1) - m_hs;
			if (m_hs)  f_q_max[0] <= f_q_max[1];
			if (s_hs && f_k == K - 1)
				f_q_max[f_owed - m_hs] <= f_k == 0 || f_lane0 > f_max ? f_lane0 : f_max;
		end
	end

	always_comb if (rst_n && f_started) begin
		assert(f_owed <= 2);
		if (m_axis_tvalid)  assert(f_owed != 0);
		if (m_axis_tvalid)  assert($signed(m_axis_tdata[BITS-1:0]) == f_q_max[0]);
`ifndef BNN2HW_F_INTERFACE_ONLY  // inductive invariants on the DUT's state
		assert(dut.kpos == f_k && dut.count == f_owed);
		if (f_k != 0)  assert($signed(dut.best[BITS-1:0]) == f_max);
		assert(dut.out_fifo.wr_ptr == 1'(dut.out_fifo.rd_ptr + dut.count));
		if (f_owed == 2)  assert($signed(dut.out_fifo.mem[!dut.out_fifo.rd_ptr][BITS-1:0]) == f_q_max[1]);
`endif
	end

	bnn2hw_f_progress #(.BOUND(N)) f_drains (.clk, .rst_n, .pending(f_owed != 0), .progress(m_hs));
	bnn2hw_f_progress #(.BOUND(N + 1)) f_takes (.clk, .rst_n, .pending(s_axis_tvalid), .progress(s_hs));
endmodule
