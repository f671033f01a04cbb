// bnn2hw_uart_shell: a board shell around the stitched accelerator: UART in, labels or scores out.
//
// Ports: `clk` (the shell's clock, CLK_HZ: the board oscillator or a PLL output), `clk_locked`,
// `uart_rx` / `uart_tx` (8N1 at BAUD, idle high), `led[7:0]`. The accelerator is reached through
// `bnn2hw_shell_accelerator`, a per-build adapter that bnn2hw.eda.shell generates (ports clk,
// rst_n, s_axis_* IN_WIDTH bits, m_axis_* OUT_WIDTH bits, ens_passes[15:0]; it instantiates
// `accelerator`, ties its AXI-lite port off and, for a build with the posterior sampler (ENSEMBLE
// = 1), connects the top's ens_passes).
// Reset: internal power-on reset, 16 cycles (flip-flop initial values; no reset pin) counted
// once `clk_locked` is high (a PLL's lock output, synchronised here; tie it to 1 for an
// oscillator clock); a lost lock resets the shell again.
//
// Protocol (bnn2hw.eda.shell and the deploy driver's UartBackend speak it; CRC = CRC-8/SMBUS,
// polynomial 0x07, initial 0, bnn2hw_crc8):
//   host -> board:  A5, IN_BYTES payload bytes (one image's packed input stream: IN_BYTES /
//                   IN_WORD_BYTES words of IN_WORD_BYTES bytes each, little-endian), CRC(payload)
//               or  A6, K low byte, K high byte, the IN_BYTES payload bytes, CRC(K's bytes and
//                   payload): the on-chip ensemble, K passes of the sampler (the accelerator's
//                   ens_passes; K = 0, like an A5 frame: the mode network, one pass)
//   board -> host:  5A, OUT_WORDS * OUT_WORD_BYTES output bytes (the packed output stream; for a
//                   LabelSelect network one byte: the class index; for a scores build the last
//                   layer's accumulators, each word little-endian), CRC(output bytes); max(K, 1)
//                   such replies in a row for an A6 frame, pass 0 first
//               or  EE, code: 1 CRC mismatch, 2 timeout (line quiet for TIMEOUT_CYCLES inside a
//                   frame: a lost byte), 3 framing error, 4 overrun, 5 no START where a frame
//                   begins, 6 an A6 frame to a shell with ENSEMBLE = 0 (no sampler: refused
//                   whatever its K). After an error the shell discards bytes until the line has been
//                   quiet for TIMEOUT_CYCLES. Only frames whose CRC matches enter the
//                   accelerator, so a lost or corrupted byte gives an error reply, never a
//                   wrong label. Replies come in frame order; frames may be sent back to back
//                   (up to TOKENS - 1 unanswered). A frame whose K differs from the frame
//                   before it waits until the accelerator has drained (bnn2hw_uart_passes).
// LEDs: [3:0] low nibble of the last reply's first output byte (the label; a scores build: the
// low bits of score 0), [4] last frame good, [5] last frame an error, [6] a frame is being
// received, [7] heartbeat (about 1 Hz).
// Latency (cycles, D = DIVISOR): a frame of B = IN_BYTES + 2 bytes takes 10*B*D cycles on the
// line; its reply starts about 3 cycles + the accelerator's latency after the CRC byte's stop
// bit and takes 10*(OUT_BYTES + 2)*D cycles.
module bnn2hw_uart_shell #(
	int unsigned CLK_HZ = 25_000_000,
	int unsigned BAUD = 115_200,
	int unsigned IN_BYTES = 64,
	int unsigned IN_WIDTH = 64,
	int unsigned OUT_WIDTH = 8,
	int unsigned OUT_WORDS = 1,
	int unsigned TIMEOUT_CYCLES = CLK_HZ / 50,
	int unsigned TOKENS = 16,
	int unsigned ENSEMBLE = 0               // 1: the accelerator has the sampler's ens_passes
)(
	input	logic  clk,
	input	logic  clk_locked,
	input	logic  uart_rx,
	output	logic  uart_tx,
	output	logic [7:0]  led
);
	localparam int unsigned DIVISOR = (CLK_HZ + BAUD / 2) / BAUD;
	localparam int unsigned BUF_DEPTH = 1 << $clog2(2 * IN_BYTES);

	// ---- power-on reset ----
	logic [4:0]  por_count = '0;
	logic [1:0]  locked_sync = '0;
	logic  rst_n = 1'b0;
	always_ff @(posedge clk) begin
		locked_sync <= {locked_sync[0], clk_locked};
		if (!locked_sync[1])  por_count <= '0;
		else if (!por_count[4])  por_count <= por_count + 1'b1;
		rst_n <= por_count[4];
	end

	logic [7:0]  rx_tdata, tx_tdata, last_label;
	logic  rx_tvalid, rx_frame_err, rx_idle, tx_tvalid, tx_tready, in_frame;
	logic [2:0]  tok_code;
	logic [15:0]  tok_passes, ens_passes;
	logic  tok_push, frame_done;
	logic [IN_WIDTH-1:0]  in_tdata, acc_tdata;
	logic  in_tvalid, in_tready, acc_tvalid, acc_tready;
	logic [OUT_WIDTH-1:0]  out_tdata;
	logic  out_tvalid, out_tready;

	bnn2hw_uart_rx #(.DIVISOR(DIVISOR)) rx (
		.clk, .rst_n, .rx(uart_rx), .m_tdata(rx_tdata), .m_tvalid(rx_tvalid), .frame_err(rx_frame_err),
		.idle(rx_idle));
	bnn2hw_uart_framer #(.IN_BYTES(IN_BYTES), .IN_WIDTH(IN_WIDTH), .TIMEOUT_CYCLES(TIMEOUT_CYCLES),
			.BUF_DEPTH(BUF_DEPTH), .ENSEMBLE(ENSEMBLE)) framer (
		.clk, .rst_n, .rx_tdata, .rx_tvalid, .rx_frame_err, .rx_idle,
		.m_axis_tdata(in_tdata), .m_axis_tvalid(in_tvalid), .m_axis_tready(in_tready),
		.tok_code, .tok_passes, .tok_push, .in_frame);
	if (ENSEMBLE != 0) begin : gen_passes
		bnn2hw_uart_passes #(.IN_WIDTH(IN_WIDTH), .IN_WORDS(IN_BYTES / ((IN_WIDTH + 7) / 8))) passes (
			.clk, .rst_n, .commit(tok_push && tok_code == 3'd0), .commit_passes(tok_passes),
			.s_axis_tdata(in_tdata), .s_axis_tvalid(in_tvalid), .s_axis_tready(in_tready),
			.m_axis_tdata(acc_tdata), .m_axis_tvalid(acc_tvalid), .m_axis_tready(acc_tready),
			.frame_done, .ens_passes);
	end else begin : gen_mode   // every frame K = 0 (the framer refuses A6): straight through
		assign	{acc_tdata, acc_tvalid, in_tready} = {in_tdata, in_tvalid, acc_tready};
		assign	ens_passes = '0;
	end
	bnn2hw_shell_accelerator accel (
		.clk, .rst_n, .ens_passes,
		.s_axis_tdata(acc_tdata), .s_axis_tvalid(acc_tvalid), .s_axis_tready(acc_tready),
		.m_axis_tdata(out_tdata), .m_axis_tvalid(out_tvalid), .m_axis_tready(out_tready));
	bnn2hw_uart_replier #(.OUT_WIDTH(OUT_WIDTH), .OUT_WORDS(OUT_WORDS), .TOKENS(TOKENS)) replier (
		.clk, .rst_n, .tok_code, .tok_passes, .tok_push, .frame_done,
		.s_axis_tdata(out_tdata), .s_axis_tvalid(out_tvalid), .s_axis_tready(out_tready),
		.m_tx_tdata(tx_tdata), .m_tx_tvalid(tx_tvalid), .m_tx_tready(tx_tready), .last_byte0(last_label));
	bnn2hw_uart_tx #(.DIVISOR(DIVISOR)) tx (
		.clk, .rst_n, .s_tdata(tx_tdata), .s_tvalid(tx_tvalid), .s_tready(tx_tready), .tx(uart_tx));

	// ---- LEDs ----
	localparam int unsigned HB = CLK_HZ > 2 ? $clog2(CLK_HZ / 2) : 1;
	logic [HB-1:0]  heartbeat;
	logic  last_ok, last_err;
	always_ff @(posedge clk) begin
		heartbeat <= heartbeat + 1'b1;
		if (!rst_n) begin
			heartbeat <= '0;  last_ok <= 1'b0;  last_err <= 1'b0;
		end else if (tok_push) begin
			last_ok <= tok_code == 3'd0;  last_err <= tok_code != 3'd0;
		end
	end
	assign	led = {heartbeat[HB-1], in_frame, last_err, last_ok, last_label[3:0]};
endmodule
