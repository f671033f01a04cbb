// Formal harness of bnn2hw_uart_tx (DIVISOR = 3; the byte source's offers are the solver's, held
// by the AXI-stream rules, and it offers at least once in every N = 4 cycles).
//
// Proves: the AXI-stream slave side (s_tready is a register, so no combinational path; the
// source's rules are assumed); the line is idle high the cycle after reset and whenever no byte is
// being sent; conservation: the byte taken leaves as one 8N1 character, start bit 0, its 8 bits
// LSB first, stop bit 1, each exactly DIVISOR cycles, and no byte is taken during a character; no
// deadlock: with a byte offered, one is taken within 10 * DIVISOR + 2 cycles.
// Mode: bounded model checking to depth 36 (reset, one whole character and the next byte taken):
// k-induction would need invariants tying the DUT's shift register to the harness's model.
module bnn2hw_uart_tx_formal #(
	int unsigned DIVISOR = 3,
	int unsigned N = 4,
	localparam int unsigned CHAR = 10 * DIVISOR
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [7:0]  s_tdata,
	input	logic  s_tvalid
);
	logic  s_tready, tx;
	bnn2hw_uart_tx #(.DIVISOR(DIVISOR)) dut (.clk, .rst_n, .s_tdata, .s_tvalid, .s_tready, .tx);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	bnn2hw_f_axis #(.W(8), .ASSERT(0)) f_in (.clk, .rst_n, .tdata(s_tdata), .tvalid(s_tvalid), .tready(s_tready));
	bnn2hw_f_fair #(.N(N)) f_source (.clk, .rst_n, .signal(s_tvalid));

	// the character the harness expects: f_t cycles since the byte was taken (0: not sending)
	logic [7:0]  f_byte;
	logic [$clog2(CHAR + 1)-1:0]  f_t = '0;
	logic  f_past_valid = 1'b0, f_past_rst_n;
	always_ff @(posedge clk) begin
		f_past_valid <= 1'b1;
		f_past_rst_n <= rst_n;
		if (!rst_n)  f_t <= '0;
		else if (s_tvalid && s_tready) begin  f_t <= 1;  f_byte <= s_tdata;  end
		else if (f_t != 0)  f_t <= f_t == CHAR ? '0 : f_t + 1'b1;
	end
	logic [3:0]  f_bit;                 // 0 start, 1..8 data, 9 stop
	assign	f_bit = 4'((f_t - 1) / DIVISOR);
	always_comb if (f_past_valid && f_past_rst_n && rst_n) begin
		if (f_t == 0)  assert(tx);
		else begin
			assert(!s_tready);
			if (f_bit == 0)  assert(!tx);
			else if (f_bit <= 8)  assert(tx == f_byte[f_bit - 1]);
			else  assert(tx);
		end
	end
	always_comb if (f_past_valid && !f_past_rst_n)  assert(tx && !s_tready);

	bnn2hw_f_progress #(.BOUND(CHAR + 2)) f_takes (.clk, .rst_n, .pending(s_tvalid), .progress(s_tvalid && s_tready));
endmodule
