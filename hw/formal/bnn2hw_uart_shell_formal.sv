// Formal harness of bnn2hw_uart_shell (4 cycles a bit, one-byte frames, one-byte replies, TOKENS 2)
// around a stand-in accelerator (`bnn2hw_shell_accelerator` below: a one-word register that passes
// each word on, taking the next only when empty). The receive line is the solver's: anything, or,
// when f_quiet is high for the whole trace, idle.
//
// Proves: the stream the shell offers the accelerator follows the AXI-stream rules (asserted at the
// stand-in's slave port) under any line; the transmit line is high from the first clock edge on
// through the power-on reset; no reply without a frame: on a quiet line, uart_tx stays high.
// The word-level handshakes inside (framer, replier, receiver, transmitter) have their own proofs;
// this one covers the wiring between them at the shell's boundary.
// Mode: bounded model checking to depth 40 (the power-on reset and the first bit times): a whole
// frame takes 3 characters (120 cycles), past what the solver reaches here in CI time, so the
// accelerator-port assertion is exercised by the solver's line only up to that depth.
module bnn2hw_uart_shell_formal (
	input	logic  clk,
	input	logic  uart_rx_free,
	input	logic  f_quiet
);
	logic  uart_rx, uart_tx;
	logic [7:0]  led;
	bnn2hw_uart_shell #(.CLK_HZ(16), .BAUD(4), .IN_BYTES(1), .IN_WIDTH(8), .OUT_WIDTH(8), .OUT_WORDS(1),
			.TIMEOUT_CYCLES(64), .TOKENS(2)) dut (.clk, .clk_locked(1'b1), .uart_rx, .uart_tx, .led);

	logic  f_past_valid = 1'b0;
	always_ff @(posedge clk)  f_past_valid <= 1'b1;
	bnn2hw_f_const f_quiet_const (.clk, .value(f_quiet));
	assign	uart_rx = f_quiet ? 1'b1 : uart_rx_free;

	always_comb if (f_past_valid) begin
		if (!dut.rst_n)  assert(uart_tx);
		if (f_quiet)  assert(uart_tx);
	end
endmodule

// The stand-in accelerator: its slave port asserts the AXI-stream rules on what the shell offers.
module bnn2hw_shell_accelerator (
	input	logic  clk,
	input	logic  rst_n,
	input	logic [15:0]  ens_passes,     // unused: the harness's shell has ENSEMBLE = 0
	input	logic [7:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	output	logic  s_axis_tready,
	output	logic [7:0]  m_axis_tdata,
	output	logic  m_axis_tvalid,
	input	logic  m_axis_tready
);
	assign	s_axis_tready = !m_axis_tvalid;
	always_ff @(posedge clk)
		if (!rst_n)  m_axis_tvalid <= 1'b0;
		else if (s_axis_tvalid && s_axis_tready) begin  m_axis_tvalid <= 1'b1;  m_axis_tdata <= s_axis_tdata;  end
		else if (m_axis_tready)  m_axis_tvalid <= 1'b0;
	bnn2hw_f_axis #(.W(8), .ASSERT(1)) f_in (.clk, .rst_n, .tdata(s_axis_tdata), .tvalid(s_axis_tvalid),
		.tready(s_axis_tready));
endmodule
