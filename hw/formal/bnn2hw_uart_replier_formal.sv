// Formal harness of bnn2hw_uart_replier (OUT_WIDTH = 12: 2 bytes a word, OUT_WORDS = 2,
// TOKENS = 4; a UART transmitter ready at least one cycle in N = 2, an accelerator output that is
// valid at least one cycle in M = 2). Tokens are the solver's (any code, any time), within the
// host's side of the contract: fewer than TOKENS replies outstanding when a token is pushed.
//
// Proves: the AXI-stream rules (assumed on s_axis, asserted on m_tx, nothing offered the cycle
// after reset); conservation and format: one reply per token, in token order, byte by byte:
// token 0 -> 8'h5A, the bytes of exactly OUT_WORDS words taken from s_axis (little-endian, in
// order), their CRC-8 (the harness's own); any other token -> 8'hEE and its code; s_axis words are
// taken only inside a good frame's reply, OUT_WORDS of them; no deadlock: while a reply is owed
// a byte leaves within DRAIN_BOUND cycles.
// Mode: bounded model checking (`mode bmc`, depth in proofs.toml: 8 cycles, a whole error reply and
// a good reply's first bytes; deeper costs minutes). Not k-induction: the token queue, the reply
// state machine and its shift register would need invariants tying them to the harness's mirror.
module bnn2hw_uart_replier_formal #(
	int unsigned OUT_WIDTH = 12,
	int unsigned OUT_WORDS = 2,
	int unsigned TOKENS = 4,
	int unsigned N = 2,
	int unsigned M = 2,
	localparam int unsigned OB = (OUT_WIDTH + 7) / 8,
	localparam int unsigned GOOD_LEN = 2 + OB * OUT_WORDS,    // 5A, the bytes, CRC
	localparam int unsigned DRAIN_BOUND = N + M + 3
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [2:0]  tok_code,
	input	logic  tok_push,
	input	logic [OUT_WIDTH-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	input	logic  m_tx_tready
);
	logic  s_axis_tready, m_tx_tvalid;
	logic [7:0]  m_tx_tdata, last_byte0;
	logic  frame_done;  // tok_passes = 0: one reply per token (K > 1 is checked in Verilator, tests/eda/test_shell_ensemble.py)
	bnn2hw_uart_replier #(.OUT_WIDTH(OUT_WIDTH), .OUT_WORDS(OUT_WORDS), .TOKENS(TOKENS)) dut (
		.clk, .rst_n, .tok_code, .tok_passes(16'd0), .tok_push, .s_axis_tdata, .s_axis_tvalid, .s_axis_tready,
		.m_tx_tdata, .m_tx_tvalid, .m_tx_tready, .last_byte0, .frame_done
	);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	bnn2hw_f_axis #(.W(OUT_WIDTH), .ASSERT(0)) f_in (.clk, .rst_n, .tdata(s_axis_tdata),
		.tvalid(s_axis_tvalid), .tready(s_axis_tready));
	bnn2hw_f_axis #(.W(8), .ASSERT(1)) f_out (.clk, .rst_n, .tdata(m_tx_tdata), .tvalid(m_tx_tvalid),
		.tready(m_tx_tready));
	bnn2hw_f_fair #(.N(N)) f_sink (.clk, .rst_n, .signal(m_tx_tready));
	bnn2hw_f_fair #(.N(M)) f_source (.clk, .rst_n, .signal(s_axis_tvalid));

	// the harness's mirror: tokens whose reply has not fully left, the current reply's position
	logic  f_started = 1'b0, s_hs, tx_hs, good, last;
	logic [2:0]  f_tok [TOKENS];
	logic [$clog2(TOKENS)-1:0]  f_head, f_tail;
	logic [$clog2(TOKENS):0]  f_count;
	logic [3:0]  f_pos;                              // bytes of the current reply already out
	logic [1:0]  f_taken;                            // words of the current reply taken
	logic [8*OB-1:0]  f_words [OUT_WORDS];
	logic [7:0]  f_crc, expected;
	assign	s_hs = s_axis_tvalid && s_axis_tready;
	assign	tx_hs = m_tx_tvalid && m_tx_tready;
	assign	good = f_tok[f_head] == 3'd0;
	assign	last = f_pos == (good ? GOOD_LEN - 1 : 1);
	always_comb begin
		if (f_pos == 0)  expected = good ? 8'h5A : 8'hEE;
		else if (!good)  expected = {5'd0, f_tok[f_head]};
		else if (f_pos == GOOD_LEN - 1)  expected = f_crc;
		else  expected = f_words[(f_pos - 1) / OB][8 * ((f_pos - 1) % OB) +: 8];
	end
	always_comb  if (tok_push)  assume(f_count < TOKENS && rst_n);
	always_ff @(posedge clk) begin
		f_started <= 1'b1;
		if (!rst_n) begin
			f_head <= '0;  f_tail <= '0;  f_count <= '0;  f_pos <= '0;  f_taken <= '0;  f_crc <= '0;
		end else begin
			if (tok_push) begin
				f_tok[f_tail] <= tok_code;
				f_tail <= f_tail + 1'b1;
			end
			if (s_hs) begin
				f_words[f_taken] <= (8*OB)'(s_axis_tdata);
				f_taken <= f_taken + 1'b1;
			end
			if (tx_hs) begin
				f_pos <= last ? '0 : f_pos + 1'b1;
				f_crc <= f_pos == 0 ? 8'd0 : bnn2hw_f::crc8(f_crc, m_tx_tdata);
				if (last) begin
					f_head <= f_head + 1'b1;
					f_taken <= '0;
				end
			end
			f_count <= f_count + tok_push - (tx_hs && last);
		end
	end

	always_comb if (rst_n && f_started) begin
		if (m_tx_tvalid)  assert(f_count != 0 && m_tx_tdata == expected);
		if (s_axis_tready)  assert(f_count != 0 && good && f_taken < OUT_WORDS);
		if (tx_hs && good && f_pos != 0 && f_pos < GOOD_LEN - 1)  assert(f_taken > (f_pos - 1) / OB);
	end
	bnn2hw_f_progress #(.BOUND(DRAIN_BOUND)) f_drains (.clk, .rst_n, .pending(f_count != 0), .progress(tx_hs));
endmodule
