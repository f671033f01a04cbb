// bnn2hw_uart_framer: the receive side of the UART shell: frames in, checked images out.
//
// Input: bytes from bnn2hw_uart_rx (`rx_tdata` with a `rx_tvalid` pulse; `rx_frame_err` for a
// bad stop bit; `rx_idle`). A frame is START (8'hA5), IN_BYTES payload bytes (one image's input
// stream, packed as the deploy driver's pack_inputs packs it: stream words of IN_WORD_BYTES
// bytes, little-endian) and CHECK, the CRC-8 (bnn2hw_crc8) of the payload; or, the ensemble
// frame, START_PASSES (8'hA6), K as two bytes (little-endian: the on-chip sampler's passes for
// this image, 0 the mode network), the IN_BYTES payload bytes and CHECK, the CRC-8 of K's two
// bytes and the payload. An A5 frame is an A6 frame with K = 0 (frames from before the ensemble
// header keep their meaning). With ENSEMBLE = 0 (an accelerator without a sampler) an A6 frame is
// refused: error 6, and the framer resynchronises as after any error. Payload bytes go into
// a transactional byte buffer (BUF_DEPTH bytes, two frames at least): a frame becomes visible to
// the accelerator only when its CRC matches (commit); any error rolls the frame back, so the
// accelerator only ever sees whole, checked images. Every frame ends with one token pushed to
// `tok_*` (the reply side answers tokens in order): 0 = good frame (its output will follow),
// else an error code:
//   1 CRC mismatch   2 timeout: the line went quiet for TIMEOUT_CYCLES inside a frame (a lost
//   byte)   3 framing error (stop bit 0: wrong baud rate, noise)   4 overrun (the buffer was
//   full: frames sent faster than the accelerator takes them)   5 a byte other than START or
//   START_PASSES where a frame must begin   6 an ensemble frame (A6) and ENSEMBLE = 0.
// `tok_passes`: with a token 0, the frame's K (0 for an A5 frame); the reply side sends max(K, 1)
// replies for it and the passes gate (bnn2hw_uart_passes) sets the accelerator's ens_passes.
// After an error the framer discards bytes until the line has been quiet for TIMEOUT_CYCLES,
// then waits for START again (resynchronisation).
// Output: AXI-stream `m_axis_*` of IN_WIDTH bits into the accelerator's s_axis_0, IN_BYTES /
// IN_WORD_BYTES words per image. Latency: a checked frame's first word is offered 3 cycles after
// its CRC byte is received; then one word per IN_WORD_BYTES + 1 cycles at most.
module bnn2hw_uart_framer #(
	int unsigned IN_BYTES = 64,
	int unsigned IN_WIDTH = 64,
	int unsigned TIMEOUT_CYCLES = 1024,
	int unsigned BUF_DEPTH = 128,         // a power of two >= 2 * IN_BYTES
	int unsigned ENSEMBLE = 0              // 1: the accelerator has the sampler's ens_passes (A6 frames)
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [7:0]  rx_tdata,
	input	logic  rx_tvalid,
	input	logic  rx_frame_err,
	input	logic  rx_idle,
	output	logic [IN_WIDTH-1:0]  m_axis_tdata,
	output	logic  m_axis_tvalid,
	input	logic  m_axis_tready,
	output	logic [2:0]  tok_code,
	output	logic [15:0]  tok_passes,
	output	logic  tok_push,
	output	logic  in_frame
);
	localparam int unsigned WB = (IN_WIDTH + 7) / 8;         // bytes per stream word
	localparam int unsigned AW = $clog2(BUF_DEPTH);
	localparam int unsigned BW = WB > 1 ? $clog2(WB) : 1;
	localparam int unsigned TW = $clog2(TIMEOUT_CYCLES + 1);
	localparam int unsigned NW = $clog2(IN_BYTES + 1);
	localparam logic [7:0] START = 8'hA5, START_PASSES = 8'hA6;
	localparam logic [2:0] OK = 3'd0, E_CRC = 3'd1, E_TIMEOUT = 3'd2, E_FRAMING = 3'd3, E_OVERRUN = 3'd4,
		E_START = 3'd5, E_NO_SAMPLER = 3'd6;
	typedef enum logic [2:0] {S_IDLE, S_PASSES_LO, S_PASSES_HI, S_PAYLOAD, S_CHECK, S_DRAIN} state_t;

	state_t  state;
	logic [7:0]  mem [BUF_DEPTH];
	logic [AW:0]  wr_ptr, commit_ptr, rd_ptr;
	logic [NW-1:0]  received;
	logic [TW-1:0]  quiet;
	logic [7:0]  crc, crc_next;
	logic  overrun, timed_out;
	assign	in_frame = state == S_PASSES_LO || state == S_PASSES_HI || state == S_PAYLOAD || state == S_CHECK;
	assign	timed_out = quiet == TW'(TIMEOUT_CYCLES);

	bnn2hw_crc8 crc_step (.crc_in(crc), .data(rx_tdata), .crc_out(crc_next));

	// ---- frame parser and the buffer's write side ----
	always_ff @(posedge clk) begin
		tok_push <= 1'b0;
		if (!rst_n) begin
			state <= S_IDLE;
			wr_ptr <= '0;
			commit_ptr <= '0;
			quiet <= '0;
		end else begin
			if (rx_tvalid || rx_frame_err || !rx_idle) quiet <= '0;
			else if (!timed_out) quiet <= quiet + 1'b1;
			if (rx_frame_err && state != S_DRAIN) begin
				state <= S_DRAIN;  wr_ptr <= commit_ptr;
				tok_code <= E_FRAMING;  tok_push <= 1'b1;
			end else case (state)
				S_IDLE: if (rx_tvalid) begin
					received <= '0;  crc <= '0;  overrun <= 1'b0;  tok_passes <= '0;
					if (rx_tdata == START)  state <= S_PAYLOAD;
					else if (rx_tdata == START_PASSES && ENSEMBLE != 0)  state <= S_PASSES_LO;
					else begin
						state <= S_DRAIN;  tok_code <= rx_tdata == START_PASSES ? E_NO_SAMPLER : E_START;
						tok_push <= 1'b1;
					end
				end
				S_PASSES_LO, S_PASSES_HI, S_PAYLOAD, S_CHECK: if (rx_tvalid) begin
					if (state == S_PASSES_LO || state == S_PASSES_HI) begin   // K: checked with the payload
						crc <= crc_next;
						if (state == S_PASSES_LO)  tok_passes[7:0] <= rx_tdata;
						else  tok_passes[15:8] <= rx_tdata;
						state <= state == S_PASSES_LO ? S_PASSES_HI : S_PAYLOAD;
					end else if (state == S_PAYLOAD) begin
						crc <= crc_next;
						received <= received + 1'b1;
						if (received == NW'(IN_BYTES - 1)) state <= S_CHECK;
						if (wr_ptr - rd_ptr == (AW + 1)'(BUF_DEPTH)) overrun <= 1'b1;
						else begin
							mem[wr_ptr[AW-1:0]] <= rx_tdata;
							wr_ptr <= wr_ptr + 1'b1;
						end
					end else begin
						tok_push <= 1'b1;
						if (rx_tdata == crc && !overrun) begin
							state <= S_IDLE;  commit_ptr <= wr_ptr;  tok_code <= OK;
						end else begin
							state <= S_DRAIN;  wr_ptr <= commit_ptr;
							tok_code <= overrun ? E_OVERRUN : E_CRC;
						end
					end
				end else if (timed_out) begin
					state <= S_DRAIN;  wr_ptr <= commit_ptr;  tok_code <= E_TIMEOUT;  tok_push <= 1'b1;
				end
				S_DRAIN: if (timed_out) state <= S_IDLE;
				default: state <= S_IDLE;
			endcase
		end
	end

	// ---- the buffer's read side: committed bytes -> stream words (synchronous-read memory) ----
	logic [7:0]  rd_data;
	logic  fetched, fetch;
	logic [BW-1:0]  byte_index;
	logic [8*WB-1:0]  word;
	assign	fetch = rd_ptr != commit_ptr && !m_axis_tvalid && !(fetched && byte_index == BW'(WB - 1));
	assign	m_axis_tdata = word[IN_WIDTH-1:0];
	always_ff @(posedge clk) begin
		if (!rst_n) begin
			rd_ptr <= '0;
			fetched <= 1'b0;
			byte_index <= '0;
			m_axis_tvalid <= 1'b0;
		end else begin
			fetched <= fetch;
			if (fetch) begin
				rd_data <= mem[rd_ptr[AW-1:0]];
				rd_ptr <= rd_ptr + 1'b1;
			end
			if (fetched) begin
				word[8*byte_index +: 8] <= rd_data;
				byte_index <= byte_index == BW'(WB - 1) ? '0 : byte_index + 1'b1;
				if (byte_index == BW'(WB - 1)) m_axis_tvalid <= 1'b1;
			end
			if (m_axis_tvalid && m_axis_tready) m_axis_tvalid <= 1'b0;
		end
	end
endmodule
