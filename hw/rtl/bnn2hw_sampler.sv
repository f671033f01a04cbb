// bnn2hw_sampler: the on-chip posterior sampler of one MVAU layer, bnn2hw.sim.sampler's definition.
//
// Per weight-memory line read it gives the E = PE*SIMD flip decisions of that line (element
// e = pe*SIMD + s, bit e of `flip`), two cycles after the read's `step` (aligned with the MVAU's
// registered weight line, its stage 2): the MVAU computes with w = mode XOR flip.
//   LFSR: 32-bit Fibonacci, x^32 + x^22 + x^2 + x + 1; one step r <- {r[0]^r[1]^r[2]^r[22], r[31:1]}
//         (`lfsr_step`); a line read first advances its lane 32 steps (`line_advance`: the step
//         unrolled, a fixed GF(2) linear map), then reads u.
//   Lanes: G = 32 / B elements share a lane; element e reads lane e / G, u_e = r[(e % G)*B +: B].
//   Seeds: lane j starts from LANE_SEEDS[32*j +: 32] (bnn2hw.sim.sampler.lane_seed, from the build's
//          hw/posterior/manifest.json), at the first line read of every image.
//   Passes: an image is run K = `passes` times, WMEM line reads each (one vector per pass: a fully
//           connected layer); read l of pass k sees A^(32(k*WMEM + l + 1)) seed. `passes` = 0:
//           no flips (the mode network), one pass per image.
//   Flip: flip_e = u_e < P_e, P_e bits [e*B, +B) of line `addr` of the probability memory
//         ($readmemh PROB_FILE: WMEM lines of E*B bits, the weight memory's FINN layout).
// `passes` must not change while an image is in flight.
module bnn2hw_sampler #(
	int unsigned E = 4,
	int unsigned B = 4,
	int unsigned WMEM = 4,
	parameter PROB_FILE = "",
	parameter LANE_SEEDS = 32'h1,

	localparam int unsigned G = 32 / B,
	localparam int unsigned LANES = (E + G - 1) / G,
	localparam int unsigned AW = $clog2(WMEM > 1 ? WMEM : 2)
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic  step,               // a line read is issued this cycle
	input	logic [AW-1:0]  addr,      // its line, nf*SF + sf
	input	logic [15:0]  passes,
	output	logic [E-1:0]  flip
);
	function automatic logic [31:0] lfsr_step(logic [31:0] r);
		return {r[0] ^ r[1] ^ r[2] ^ r[22], r[31:1]};
	endfunction
	function automatic logic [31:0] line_advance(logic [31:0] r);
		for (int unsigned i = 0; i < 32; i++)  r = lfsr_step(r);
		return r;
	endfunction

	(* ram_style = "block" *) logic [E*B-1:0]  pmem [WMEM];
	initial if (PROB_FILE != "")  $readmemh(PROB_FILE, pmem);

	logic [15:0]  pass;
	logic  first, last, sampling;
	assign	sampling = passes != 0;
	assign	first = addr == 0 && pass == 0;
	assign	last = addr == AW'(WMEM - 1);
	always_ff @(posedge clk) begin
		if (!rst_n)  pass <= 0;
		else if (step && last)  pass <= pass + 1 >= (passes == 0 ? 16'd1 : passes) ? 16'd0 : pass + 1;
	end

	logic [31:0]  r [LANES];
	logic [E*B-1:0]  p0;
	for (genvar j = 0; j < LANES; j++) begin : gen_lane
		localparam logic [31:0] SEED = LANE_SEEDS[32 * j +: 32];
		always_ff @(posedge clk) begin
			if (!rst_n)  r[j] <= SEED;
			else if (step)  r[j] <= line_advance(first ? SEED : r[j]);
		end
	end
	always_ff @(posedge clk)  p0 <= pmem[addr];
	for (genvar e = 0; e < E; e++) begin : gen_flip
		always_ff @(posedge clk)  flip[e] <= sampling && r[e / G][(e % G) * B +: B] < p0[e * B +: B];
	end
endmodule
