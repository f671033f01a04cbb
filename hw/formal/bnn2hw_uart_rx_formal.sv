// Formal harness of bnn2hw_uart_rx (DIVISOR = 4). The line is the solver's: anything at all when
// f_clean is low; when f_clean is high (held for the whole trace), idle until cycle START, then one
// 8N1 character of a byte the solver chooses (f_byte), then idle.
//
// Proves: nothing leaves during or the cycle after reset; m_tvalid and frame_err are never high
// together (a byte or a framing error, never both), and each is a one-cycle pulse; conservation
// on a clean line: exactly one byte leaves, equal to f_byte, no framing error, and it leaves within
// 10 * DIVISOR + 4 cycles of the start edge (the receiver cannot be stalled, so this bound is the
// no-deadlock property of its output).
// Mode: bounded model checking to depth 52 (reset, the character, and cycles after it):
// k-induction would need invariants on the sampling counters against the harness's line model.
module bnn2hw_uart_rx_formal #(
	int unsigned DIVISOR = 4,
	int unsigned START = 3,
	localparam int unsigned CHAR = 10 * DIVISOR
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic  rx_free,
	input	logic  f_clean,
	input	logic [7:0]  f_byte
);
	logic [7:0]  m_tdata;
	logic  m_tvalid, frame_err, idle, rx;
	bnn2hw_uart_rx #(.DIVISOR(DIVISOR)) dut (.clk, .rst_n, .rx, .m_tdata, .m_tvalid, .frame_err, .idle);

	logic [7:0]  f_cycle = '0;
	logic  f_past_valid = 1'b0, f_past_rst_n, f_past_out;
	logic [7:0]  f_seen;
	always_ff @(posedge clk) begin
		f_past_valid <= 1'b1;
		f_past_rst_n <= rst_n;
		f_past_out <= m_tvalid || frame_err;
		if (f_cycle != 8'hff)  f_cycle <= f_cycle + 1'b1;
	end
	bnn2hw_f_const #(.W(8)) f_byte_const (.clk, .value(f_byte));
	bnn2hw_f_const f_clean_const (.clk, .value(f_clean));
	always_comb  if (!f_past_valid)  assume(!rst_n);
	always_comb  if (f_past_valid && f_clean)  assume(rst_n);   // one reset, in the first cycle

	// the clean line: bit b of the character occupies cycles START + b*DIVISOR .. + DIVISOR - 1
	logic [7:0]  f_t;
	logic [3:0]  f_bit;
	assign	f_t = f_cycle - 8'(START);
	assign	f_bit = 4'(f_t / DIVISOR);
	always_comb begin
		if (!f_clean)  rx = rx_free;
		else if (f_cycle < START || f_bit > 9)  rx = 1'b1;
		else if (f_bit == 0)  rx = 1'b0;
		else if (f_bit <= 8)  rx = f_byte[f_bit - 1];
		else  rx = 1'b1;
	end

	always_ff @(posedge clk)
		if (!rst_n)  f_seen <= '0;
		else if (m_tvalid && f_seen != 8'hff)  f_seen <= f_seen + 1'b1;
	always_comb begin
		if (f_past_valid)  assert(!(m_tvalid && frame_err));   // registers hold anything before the first edge
		if (f_past_valid && !f_past_rst_n)  assert(!m_tvalid && !frame_err);
		if (f_past_valid && f_past_out)  assert(!m_tvalid && !frame_err);
		if (f_clean && rst_n) begin
			assert(!frame_err && f_seen <= 1);
			if (m_tvalid)  assert(m_tdata == f_byte && f_cycle > START + CHAR - DIVISOR);
			if (f_cycle == START + CHAR + 4)  assert(f_seen == 1 || m_tvalid);
		end
	end
endmodule
