// Formal harness of bnn2hw_uart_framer (frames of IN_BYTES = 2 payload bytes as one IN_WIDTH = 16-bit
// stream word, assembled from 2 bytes; BUF_DEPTH = 4 (two frames), TIMEOUT_CYCLES = 3; a sink
// ready at least one cycle in N = 2). The received bytes, framing errors and idle line are the
// solver's (any byte, any timing; bnn2hw_uart_rx never gives a byte and a framing error at once).
//
// Proves: the AXI-stream rules on m_axis (nothing offered the cycle after reset); a frame is
// accepted (token 0) only when its check byte is the CRC-8 of its payload (the harness's own
// CRC-8/SMBUS, not the DUT's bnn2hw_crc8); conservation: the words that leave are exactly the
// payloads of the accepted frames, in order, bytes little-endian, WORDS a frame, nothing else
// (no word of a rolled-back frame, none twice); no deadlock: with a frame accepted and not yet out
// a word leaves within DRAIN_BOUND cycles.
// Mode: bounded model checking (`mode bmc`, depth in proofs.toml: 7 cycles in CI, a frame in and
// accepted; 9 (slow) to its word out: the solver's time grows steeply with depth here). Not k-induction: the byte buffer, its three pointers, the CRC and the timeout
// counter would each need invariants tying them to the harness's queue of frames.
module bnn2hw_uart_framer_formal #(
	int unsigned IN_BYTES = 2,
	int unsigned IN_WIDTH = 16,
	int unsigned N = 2,
	localparam int unsigned WB = IN_WIDTH / 8,
	localparam int unsigned WORDS = IN_BYTES / WB,
	localparam int unsigned DRAIN_BOUND = N + WB + 3
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [7:0]  rx_tdata,
	input	logic  rx_tvalid,
	input	logic  rx_frame_err,
	input	logic  rx_idle,
	input	logic  m_axis_tready
);
	logic [IN_WIDTH-1:0]  m_axis_tdata;
	logic  m_axis_tvalid, tok_push, in_frame;
	logic [2:0]  tok_code;
	logic [15:0]  tok_passes;  // ENSEMBLE = 0 here: A6 frames are refused like a stray byte (code 6)
	bnn2hw_uart_framer #(.IN_BYTES(IN_BYTES), .IN_WIDTH(IN_WIDTH), .TIMEOUT_CYCLES(3), .BUF_DEPTH(2 * IN_BYTES)) dut (
		.clk, .rst_n, .rx_tdata, .rx_tvalid, .rx_frame_err, .rx_idle,
		.m_axis_tdata, .m_axis_tvalid, .m_axis_tready, .tok_code, .tok_passes, .tok_push, .in_frame
	);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	bnn2hw_f_axis #(.W(IN_WIDTH), .ASSERT(1)) f_out (.clk, .rst_n, .tdata(m_axis_tdata), .tvalid(m_axis_tvalid),
		.tready(m_axis_tready));
	bnn2hw_f_fair #(.N(N)) f_sink (.clk, .rst_n, .signal(m_axis_tready));
	always_comb  assume(!(rx_tvalid && rx_frame_err));

	// the last IN_BYTES + 1 bytes received, newest first: at an accepting token, CRC then payload
	logic [7:0]  f_last [IN_BYTES + 1];
	logic [8*IN_BYTES-1:0]  f_payload;
	logic [7:0]  f_crc;
	always_ff @(posedge clk)
		if (rx_tvalid) begin
			f_last[0] <= rx_tdata;
			for (int i = 1; i <= IN_BYTES; i++)  f_last[i] <= f_last[i - 1];
		end
	always_comb begin
		f_crc = 8'd0;
		for (int i = 0; i < IN_BYTES; i++) begin
			f_payload[8 * i +: 8] = f_last[IN_BYTES - i];      // first payload byte least significant
			f_crc = bnn2hw_f::crc8(f_crc, f_last[IN_BYTES - i]);
		end
	end

	// the accepted frames whose words have not all left, oldest first
	logic  f_started = 1'b0, accept, m_hs;
	logic [8*IN_BYTES-1:0]  f_q [4];
	logic [1:0]  f_head, f_tail;
	logic [2:0]  f_count;
	logic [(WORDS > 1 ? $clog2(WORDS) : 1)-1:0]  f_word;
	assign	accept = tok_push && tok_code == 3'd0;
	assign	m_hs = m_axis_tvalid && m_axis_tready;
	always_ff @(posedge clk) begin
		f_started <= 1'b1;
		if (!rst_n) begin
			f_head <= '0;  f_tail <= '0;  f_count <= '0;  f_word <= '0;
		end else begin
			if (accept) begin
				f_q[f_tail] <= f_payload;
				f_tail <= f_tail + 1'b1;
			end
			if (m_hs) begin
				f_word <= f_word == WORDS - 1 ? '0 : f_word + 1'b1;
				if (f_word == WORDS - 1)  f_head <= f_head + 1'b1;
			end
			f_count <= f_count + accept - (m_hs && f_word == WORDS - 1);
		end
	end

	always_comb if (rst_n && f_started) begin
		if (accept)  assert(f_last[0] == f_crc);
		assert(f_count < 4);
		if (m_axis_tvalid)  assert(f_count != 0 && m_axis_tdata == f_q[f_head][IN_WIDTH * f_word +: IN_WIDTH]);
	end
	bnn2hw_f_progress #(.BOUND(DRAIN_BOUND)) f_drains (.clk, .rst_n, .pending(f_count != 0), .progress(m_hs));
endmodule
