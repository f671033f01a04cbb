// Formal harness of bnn2hw_sampler at a small size: E = 2 elements, B = 4, WMEM = 2 lines, 1 lane.
//
// Proves: the lane register is never zero (the LFSR's all-zero state is a fixed point it must
// not reach), it changes only on a line read, and each read sets it to 32 steps of the
// characteristic polynomial x^32 + x^22 + x^2 + x + 1 written as its sequence recurrence,
// a_{t+32} = a_t ^ a_{t+1} ^ a_{t+2} ^ a_{t+22} (bit i of the register = a_{t+i}: the next
// register is a_{t+32} .. a_{t+63}), from the seed on an image's first read, else from the
// register before: bnn2hw.sim.sampler's definition, here independent of the RTL's step function.
// Mode: k-induction (`mode prove`): nonzero is inductive (the 32-step map is invertible), and
// the other properties relate one cycle to the next.
module bnn2hw_sampler_formal (
	input	logic  clk,
	input	logic  rst_n,
	input	logic  step,
	input	logic [0:0]  addr,
	input	logic [15:0]  passes
);
	localparam logic [31:0] SEED = 32'h8c03471f;
	logic [1:0]  flip;
	bnn2hw_sampler #(.E(2), .B(4), .WMEM(2), .LANE_SEEDS(SEED)) dut (.clk, .rst_n, .step, .addr, .passes, .flip);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	function automatic logic [31:0] f_recurrence32(logic [31:0] r);
		logic [63:0]  a;
		a = {32'b0, r};
		for (int i = 32; i < 64; i++)  a[i] = a[i - 32] ^ a[i - 31] ^ a[i - 30] ^ a[i - 10];
		return a[63:32];
	endfunction
	logic  f_past_valid = 1'b0, f_reset_q, f_step_q, f_first_q;
	logic [31:0]  f_r_q;
	always_ff @(posedge clk) begin
		f_past_valid <= 1'b1;
		f_reset_q <= !rst_n;
		f_step_q <= step;
		f_first_q <= dut.first;
		f_r_q <= dut.r[0];
	end
	always_comb if (f_past_valid) begin
		assert(dut.r[0] != 32'b0);
		if (f_reset_q)  assert(dut.r[0] == SEED);
		else if (f_step_q)  assert(dut.r[0] == f_recurrence32(f_first_q ? SEED : f_r_q));
		else  assert(dut.r[0] == f_r_q);
	end
endmodule
