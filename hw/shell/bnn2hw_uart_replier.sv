// bnn2hw_uart_replier: the transmit side of the UART shell: one reply per frame, in frame order.
//
// Tokens from bnn2hw_uart_framer (`tok_code` with a `tok_push` pulse; queued, TOKENS deep) say
// how each frame ended. Token 0 (a good frame): take the frame's OUT_WORDS output words from the
// accelerator (`s_axis_*`, OUT_WIDTH bits each) and send 8'h5A, the words' bytes (OUT_WORD_BYTES
// per word, little-endian: the deploy driver's packed output format) and the CRC-8 of those
// bytes; a token 0 with `tok_passes` = K > 1 (an ensemble frame: the accelerator replays the image
// K times) gets K such replies in a row, pass by pass, each with its own CRC. Any other token:
// send 8'hEE and the error code. Bytes go to bnn2hw_uart_tx as an
// AXI-stream (`m_tx_*`). `s_axis_tready` is a register-decoded state (no combinational path
// from s_axis_tvalid). `last_byte0`: the first output byte of the last good frame (the label of
// a LabelSelect network), for the LEDs. `frame_done`: a pulse as the last output word of a good
// frame's last pass is taken (the frame has left the accelerator; bnn2hw_uart_passes counts the
// frames in flight by it). Latency: the reply's first byte is offered 2 cycles
// after its token arrives; an output word is taken the cycle it is valid once its turn comes.
module bnn2hw_uart_replier #(
	int unsigned OUT_WIDTH = 8,
	int unsigned OUT_WORDS = 1,
	int unsigned TOKENS = 16
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [2:0]  tok_code,
	input	logic [15:0]  tok_passes,
	input	logic  tok_push,
	input	logic [OUT_WIDTH-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	output	logic  s_axis_tready,
	output	logic [7:0]  m_tx_tdata,
	output	logic  m_tx_tvalid,
	input	logic  m_tx_tready,
	output	logic [7:0]  last_byte0,
	output	logic  frame_done
);
	localparam int unsigned OB = (OUT_WIDTH + 7) / 8;        // bytes per output word
	localparam int unsigned TA = $clog2(TOKENS);
	localparam int unsigned OBW = $clog2(OB + 1);
	localparam int unsigned OWW = $clog2(OUT_WORDS + 1);
	localparam logic [7:0] REPLY_OK = 8'h5A, REPLY_ERROR = 8'hEE;
	typedef enum logic [2:0] {R_IDLE, R_CODE, R_WORD, R_BYTES, R_CRC, R_AGAIN} state_t;

	// ---- token queue (a full queue drops the token: the host keeps < TOKENS frames in flight) ----
	logic [18:0]  tokens [TOKENS];   // {passes K, code}
	logic [TA:0]  tok_wr, tok_rd;
	logic  tok_pop, tok_any;
	assign	tok_any = tok_wr != tok_rd;
	always_ff @(posedge clk) begin
		if (!rst_n) begin
			tok_wr <= '0;
		end else if (tok_push && tok_wr - tok_rd != (TA + 1)'(TOKENS)) begin
			tokens[tok_wr[TA-1:0]] <= {tok_passes, tok_code};
			tok_wr <= tok_wr + 1'b1;
		end
	end

	// ---- reply sequencer ----
	state_t  state;
	logic [8*OB-1:0]  shift;
	logic [OBW-1:0]  bytes_left;
	logic [OWW-1:0]  words_left;
	logic [2:0]  code;
	logic [15:0]  passes_left;      // replies still owed for the current good frame, this one included
	logic [7:0]  crc, crc_next;
	logic  can_send, first_byte;
	assign	can_send = !m_tx_tvalid || m_tx_tready;
	assign	s_axis_tready = state == R_WORD;
	assign	tok_pop = state == R_IDLE && tok_any && can_send;
	assign	frame_done = state == R_WORD && s_axis_tvalid && words_left == OWW'(1) && passes_left == 16'd1;

	bnn2hw_crc8 crc_step (.crc_in(crc), .data(shift[7:0]), .crc_out(crc_next));

	always_ff @(posedge clk) begin
		if (!rst_n) begin
			state <= R_IDLE;
			tok_rd <= '0;
			m_tx_tvalid <= 1'b0;
			last_byte0 <= '0;
		end else begin
			if (m_tx_tready) m_tx_tvalid <= 1'b0;
			case (state)
				R_IDLE: if (tok_pop) begin
					tok_rd <= tok_rd + 1'b1;
					code <= tokens[tok_rd[TA-1:0]][2:0];
					passes_left <= tokens[tok_rd[TA-1:0]][18:3] == 0 ? 16'd1 : tokens[tok_rd[TA-1:0]][18:3];
					m_tx_tvalid <= 1'b1;
					crc <= '0;
					words_left <= OWW'(OUT_WORDS);
					first_byte <= 1'b1;
					if (tokens[tok_rd[TA-1:0]][2:0] == 3'd0) begin
						m_tx_tdata <= REPLY_OK;
						state <= R_WORD;
					end else begin
						m_tx_tdata <= REPLY_ERROR;
						state <= R_CODE;
					end
				end
				R_CODE: if (can_send) begin
					m_tx_tdata <= {5'd0, code};
					m_tx_tvalid <= 1'b1;
					state <= R_IDLE;
				end
				R_WORD: if (s_axis_tvalid) begin
					shift <= (8*OB)'(s_axis_tdata);
					bytes_left <= OBW'(OB);
					words_left <= words_left - 1'b1;
					state <= R_BYTES;
				end
				R_BYTES: if (can_send) begin
					m_tx_tdata <= shift[7:0];
					m_tx_tvalid <= 1'b1;
					if (first_byte) last_byte0 <= shift[7:0];
					first_byte <= 1'b0;
					crc <= crc_next;
					shift <= shift >> 8;
					bytes_left <= bytes_left - 1'b1;
					if (bytes_left == OBW'(1)) state <= words_left == 0 ? R_CRC : R_WORD;
				end
				R_CRC: if (can_send) begin
					m_tx_tdata <= crc;
					m_tx_tvalid <= 1'b1;
					passes_left <= passes_left - 1'b1;
					state <= passes_left == 16'd1 ? R_IDLE : R_AGAIN;
				end
				R_AGAIN: if (can_send) begin   // the next pass's reply of the same frame
					m_tx_tdata <= REPLY_OK;
					m_tx_tvalid <= 1'b1;
					crc <= '0;
					words_left <= OWW'(OUT_WORDS);
					state <= R_WORD;
				end
				default: state <= R_IDLE;
			endcase
		end
	end
endmodule
