// bnn2hw_f_axis: the AXI-stream handshake rules on one stream, for bnn2hw's formal harnesses.
//
// ASSERT = 1 (a DUT output): asserted; ASSERT = 0 (a DUT input, driven by the solver): assumed.
//   1. nothing leaves during reset: the cycle after a cycle with rst_n low, tvalid is low;
//   2. once tvalid is high it stays high, with tdata unchanged, until the cycle tready is high.
// Synchronous, active-low reset as every bnn2hw module has. The harness assumes rst_n low in
// its first cycle (bnn2hw_f_reset); a power-up state before that first reset is unconstrained.
// bnn2hw_f: what the harnesses model in common. crc8: CRC-8/SMBUS (polynomial 0x07, initial 0,
// MSB first) of one more byte, byte-wise; bnn2hw_crc8_formal proves it equal to the bit-serial
// textbook form, as it proves the DUT's bnn2hw_crc8.
package bnn2hw_f;
	function automatic logic [7:0] crc8(input logic [7:0] crc, input logic [7:0] data);
		crc8 = crc ^ data;
		for (int i = 0; i < 8; i++)  crc8 = crc8[7] ? (crc8 << 1) ^ 8'h07 : crc8 << 1;
	endfunction
endpackage

module bnn2hw_f_axis #(
	int unsigned W = 8,
	int unsigned ASSERT = 1
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [W-1:0]  tdata,
	input	logic  tvalid,
	input	logic  tready
);
	logic  f_past_valid = 1'b0;
	logic  f_past_rst_n, f_past_stall;
	logic [W-1:0]  f_past_data;
	always_ff @(posedge clk) begin
		f_past_valid <= 1'b1;
		f_past_rst_n <= rst_n;
		f_past_stall <= tvalid && !tready;
		f_past_data <= tdata;
	end
	logic  f_after_reset, f_held;
	assign	f_after_reset = f_past_valid && !f_past_rst_n;
	assign	f_held = f_past_valid && f_past_rst_n && f_past_stall;
	if (ASSERT) begin : g_assert
		always_comb begin
			if (f_after_reset)  assert(!tvalid);
			if (f_held)  assert(tvalid && tdata == f_past_data);
		end
	end else begin : g_assume
		always_comb begin
			if (!f_past_valid || f_after_reset)  assume(!tvalid);
			if (f_held)  assume(tvalid && tdata == f_past_data);
		end
	end
endmodule

// bnn2hw_f_reset: rst_n is low in the first cycle (after it, the solver may reset at any time).
module bnn2hw_f_reset (
	input	logic  clk,
	input	logic  rst_n
);
	logic  f_past_valid = 1'b0;
	always_ff @(posedge clk)  f_past_valid <= 1'b1;
	always_comb  if (!f_past_valid)  assume(!rst_n);
endmodule

// bnn2hw_f_const: `value` is the solver's choice, held for the whole trace (a tracked position, a
// chosen memory line, a line model picked for the trace).
module bnn2hw_f_const #(
	int unsigned W = 1
)(
	input	logic  clk,
	input	logic [W-1:0]  value
);
	logic  f_past_valid = 1'b0;
	logic [W-1:0]  f_past_value;
	always_ff @(posedge clk) begin  f_past_valid <= 1'b1;  f_past_value <= value;  end
	always_comb  if (f_past_valid)  assume(value == f_past_value);
endmodule

// bnn2hw_f_track: one element chosen by the solver (`idx`, held by bnn2hw_f_const), followed through
// a stream that takes IN_N elements of E bits a word (`in_hs`, element 0 least significant) and
// gives OUT_N a word (`out_hs`). `held`: elements taken and not yet given; `ahead`: the tracked
// element's position from the next one out (it leaves in this word when `ahead < OUT_N`, at lane
// `ahead`); `elem`: its value as it went in. Positions count modulo 2^CW.
module bnn2hw_f_track #(
	int unsigned E = 8,
	int unsigned IN_N = 1,
	int unsigned OUT_N = 1,
	int unsigned CW = 4
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic  in_hs,
	input	logic [IN_N*E-1:0]  in_data,
	input	logic  out_hs,
	input	logic [CW-1:0]  idx,
	output	logic [CW-1:0]  held,
	output	logic [CW-1:0]  ahead,
	output	logic [E-1:0]  elem
);
	logic [CW-1:0]  in_pos, out_pos, in_off;
	assign	in_off = idx - in_pos;        // the tracked element's lane in the input word
	always_ff @(posedge clk) begin
		if (!rst_n) begin
			in_pos <= '0;  out_pos <= '0;
		end else begin
			if (in_hs)  in_pos <= in_pos + CW'(IN_N);
			if (out_hs)  out_pos <= out_pos + CW'(OUT_N);
			if (in_hs && in_off < IN_N)  elem <= in_data[in_off * E +: E];
		end
	end
	assign	held = in_pos - out_pos;
	assign	ahead = idx - out_pos;
endmodule

// bnn2hw_f_fair: `signal` is high at least one cycle in every N (assumed): a sink's tready, or a
// source's tvalid (counted from the end of a reset, in which a source must stay quiet).
module bnn2hw_f_fair #(
	int unsigned N = 4
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic  signal
);
	logic [$clog2(N + 1)-1:0]  f_waited = '0;    // consecutive cycles without signal
	always_ff @(posedge clk)  f_waited <= !rst_n || signal ? '0 : f_waited + 1'b1;
	always_comb  assume(signal || f_waited < N - 1);
endmodule

// bnn2hw_f_progress: no deadlock within BOUND cycles: while `pending` (work the DUT owes), some
// `progress` (a handshake that moves the work on) happens at least once in every BOUND cycles.
module bnn2hw_f_progress #(
	int unsigned BOUND = 8
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic  pending,
	input	logic  progress
);
	logic [$clog2(BOUND + 2)-1:0]  f_stalled = '0;    // consecutive pending cycles without progress
	always_ff @(posedge clk)
		if (!rst_n || !pending || progress)  f_stalled <= '0;
		else if (f_stalled <= BOUND)  f_stalled <= f_stalled + 1'b1;
	always_comb  if (rst_n)  assert(f_stalled < BOUND);
endmodule
