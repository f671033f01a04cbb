// bnn2hw_mvau: matrix-vector-activation unit for binary networks, FINN MVAU semantics.
//
// Computes, for every input vector of MW elements, MH outputs (neuron n = nf*PE + pe), folded:
// SIMD input elements and PE neurons per cycle, MW/SIMD x MH/PE cycles per vector.
//   XNOR = 1 (FINN binaryXnorMode): inputs and weights are bits (+1 = 1, -1 = 0);
//            acc = popcount(xnor(x, w)) over the row (0..MW).
//   XNOR = 0: inputs are IBITS-bit integers (ISIGNED); weights are bipolar bits (WBIPOLAR = 1:
//            acc = sum(w ? x : -x), an add or subtract) or WBITS-bit integers (WSIGNED): acc = sum(x*w).
// The accumulator register is ACC_BITS wide (two's complement wrap, ACC_SIGNED says how it is
// read). With thresholds (NO_ACT = 0): out = ACT_VAL + #{t in T[n][0..STEPS-1] : t <= acc}
// (qonnx MultiThreshold), truncated to OBITS; without (NO_ACT = 1): out = acc truncated to OBITS.
// The bnn2hw.sim kernel MVAU (op MVAUBinary_rtl) is the definition this module is tested against.
//
// Streams (AXI-stream, element 0 in the least significant bits):
//   s_axis: SIMD elements of IBITS (XNOR: 1) bits; m_axis: PE elements of OBITS bits.
// Memories (FINN layouts, bnn2hw.sim.layout):
//   weights: WMEM = MH/PE*MW/SIMD lines of PE*SIMD*WBITS bits, line nf*SF + sf, element (pe, s)
//            at bit (pe*SIMD + s)*WBITS ($readmemh WEIGHT_FILE; FINN's decoupled memblock .dat);
//   thresholds: MH/PE lines of PE*STEPS*TBITS bits, element (pe, step) at bit (pe*STEPS+step)*TBITS.
// Runtime weights (RUNTIME_WEIGHTS = 1): AXI-lite writes to the weight memory with FINN's
// memstream address map: line L, 32-bit word k at byte address (L*WORDS + k)*4, WORDS the line
// width in 32-bit words rounded up to a power of two; only the bytes whose WSTRB bit is set are
// written (AXI-lite's byte strobes; the line's other bytes keep their value). Reads are not
// supported (SLVERR).
// Pipeline (TREE_REG: adder-tree levels between registers, >= 1): issue -> weight memory read ->
// its output registered -> the SIMD lane terms (XNOR bits, or products) summed by a binary adder
// tree of LEVELS = clog2(SIMD) levels, a register after every TREE_REG levels and after the last
// (TREE_LAT = max(1, ceil(LEVELS / TREE_REG)) stages) -> accumulate over the SF folds, threshold
// memory read -> threshold compares -> output count (ACT_VAL + compares passed) -> output FIFO.
// The pipeline never stalls: an issue needs room in the output FIFO for everything in flight.
// Cycles per vector stay MW/SIMD x MH/PE; only the latency grows with the pipeline.
// Latency: TREE_LAT + 6 cycles from the issue of the last input word of a fold to its output
// word (m_tvalid); the input buffer holds one vector, so a new vector streams in while the last
// folds of the previous one finish only after they issue (FINN's MVAU behaviour); no
// combinational path from m_tready to s_tready.
// Posterior sampler (PBITS = B > 0; 0: none, the module as without it): bnn2hw_sampler draws a
// flip per weight of every line read from LFSRs (seeds LANE_SEEDS, probabilities PROB_FILE in the
// weight memory's layout, B bits an element) and the lane terms use w XOR flip; `ens_passes` is
// the passes K per image (the LFSRs restart every K vectors). 1-bit weights only; same timing.
module bnn2hw_mvau #(
	int unsigned MW = 8,
	int unsigned MH = 8,
	int unsigned PE = 1,
	int unsigned SIMD = 1,
	int unsigned XNOR = 1,
	int unsigned IBITS = 1,
	int unsigned ISIGNED = 0,
	int unsigned WBITS = 1,
	int unsigned WSIGNED = 0,
	int unsigned WBIPOLAR = 1,
	int unsigned ACC_BITS = 16,
	int unsigned ACC_SIGNED = 1,
	int unsigned NO_ACT = 0,
	int unsigned STEPS = 1,
	int unsigned TBITS = 16,
	int unsigned TSIGNED = 1,
	int ACT_VAL = 0,
	int unsigned OBITS = 1,
	int unsigned RUNTIME_WEIGHTS = 0,
	parameter WEIGHT_FILE = "",
	parameter THRESH_FILE = "",
	int unsigned TREE_REG = 2,
	int unsigned PBITS = 0,
	parameter PROB_FILE = "",
	parameter LANE_SEEDS = 32'h1,

	localparam int unsigned SF = MW / SIMD,
	localparam int unsigned NF = MH / PE,
	localparam int unsigned WMEM = SF * NF,
	localparam int unsigned LINE_W = PE * SIMD * WBITS,
	localparam int unsigned WORDS = 2 ** $clog2((LINE_W + 31) / 32),
	localparam int unsigned MEM_W = RUNTIME_WEIGHTS ? 32 * WORDS : LINE_W,
	localparam int unsigned AXI_AW = $clog2(WMEM * WORDS) + 2,
	localparam int unsigned IN_BITS = XNOR ? 1 : IBITS,
	localparam int unsigned IN_W = SIMD * IN_BITS,
	localparam int unsigned OUT_W = PE * OBITS,
	localparam int unsigned T_W = PE * STEPS * TBITS
)(
	input	logic  clk,
	input	logic  rst_n,

	input	logic  s_axilite_AWVALID,
	output	logic  s_axilite_AWREADY,
	input	logic [AXI_AW-1:0]  s_axilite_AWADDR,
	input	logic  s_axilite_WVALID,
	output	logic  s_axilite_WREADY,
	input	logic [31:0]  s_axilite_WDATA,
	input	logic [ 3:0]  s_axilite_WSTRB,
	output	logic  s_axilite_BVALID,
	input	logic  s_axilite_BREADY,
	output	logic [1:0]  s_axilite_BRESP,
	input	logic  s_axilite_ARVALID,
	output	logic  s_axilite_ARREADY,
	input	logic [AXI_AW-1:0]  s_axilite_ARADDR,
	output	logic  s_axilite_RVALID,
	input	logic  s_axilite_RREADY,
	output	logic [31:0]  s_axilite_RDATA,
	output	logic [ 1:0]  s_axilite_RRESP,

	input	logic [15:0]  ens_passes,
	input	logic [IN_W-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	output	logic  s_axis_tready,
	output	logic [OUT_W-1:0]  m_axis_tdata,
	output	logic  m_axis_tvalid,
	input	logic  m_axis_tready
);
	localparam int unsigned PART_W = XNOR ? $clog2(SIMD + 1) + 1 : IBITS + WBITS + $clog2(SIMD) + 3;
	localparam int unsigned CMP_W = (ACC_BITS > TBITS ? ACC_BITS : TBITS) + 2;
	localparam int unsigned LEVELS = $clog2(SIMD);  // adder-tree levels over the SIMD lanes
	localparam int unsigned TREE_LAT = LEVELS == 0 ? 1 : (LEVELS + TREE_REG - 1) / TREE_REG;
	// outputs not yet counted by the FIFO: the issuing one, stages 1-2, the tree, accumulate, compare, count
	localparam int unsigned IN_FLIGHT = TREE_LAT + 6;
	localparam int unsigned FIFO_D = 2 ** $clog2(IN_FLIGHT + 2);  // + 2: one output a cycle at full rate
	localparam int unsigned NF_W = $clog2(NF > 1 ? NF : 2);
	localparam int unsigned TMEM_W = T_W > 0 ? T_W : 1;

	// A tree level l (1..LEVELS) is followed by a register when l is a multiple of TREE_REG or the
	// last level; with SIMD = 1 (no level) the single lane term is registered.
	function automatic bit level_registered(int unsigned l);
		return LEVELS == 0 ? l == 0 : l > 0 && (l % TREE_REG == 0 || l == LEVELS);
	endfunction

	//----- memories
	(* ram_style = "block" *) logic [MEM_W-1:0]  wmem [WMEM];
	logic [TMEM_W-1:0]  tmem [NF];
	initial begin
		if (WEIGHT_FILE != "")  $readmemh(WEIGHT_FILE, wmem);
		if (!NO_ACT && THRESH_FILE != "")  $readmemh(THRESH_FILE, tmem);
	end

	//----- AXI-lite: write-only access to the weight memory
	logic  axi_write;
	assign	axi_write = RUNTIME_WEIGHTS != 0 && s_axilite_AWVALID && s_axilite_WVALID && !s_axilite_BVALID;
	assign	s_axilite_AWREADY = axi_write;
	assign	s_axilite_WREADY = axi_write;
	assign	s_axilite_BRESP = 2'b00;
	assign	s_axilite_ARREADY = !s_axilite_RVALID;
	assign	s_axilite_RDATA = '0;
	assign	s_axilite_RRESP = 2'b10;
	always_ff @(posedge clk) begin
		if (!rst_n)  s_axilite_BVALID <= 0;
		else if (axi_write)  s_axilite_BVALID <= 1;
		else if (s_axilite_BREADY)  s_axilite_BVALID <= 0;
	end
	always_ff @(posedge clk) begin
		if (!rst_n)  s_axilite_RVALID <= 0;
		else if (s_axilite_ARVALID && s_axilite_ARREADY)  s_axilite_RVALID <= 1;
		else if (s_axilite_RREADY)  s_axilite_RVALID <= 0;
	end
	if (RUNTIME_WEIGHTS) begin : gen_axi_write
		localparam int unsigned WORD_BITS = $clog2(WORDS);
		logic [AXI_AW-3:0]  word_addr;
		logic [4*WORDS-1:0]  byte_we;  // a write enable per byte of the line: the word's bytes WSTRB names
		assign	word_addr = s_axilite_AWADDR[AXI_AW-1:2];
		for (genvar j = 0; j < 4 * WORDS; j++) begin : gen_byte_we
			assign	byte_we[j] = axi_write && j / 4 == word_addr % WORDS && s_axilite_WSTRB[j % 4];
		end
		always_ff @(posedge clk) begin  // a byte-write-enable block RAM (one write port, 8-bit columns)
			for (int unsigned j = 0; j < 4 * WORDS; j++)
				if (byte_we[j])  wmem[word_addr >> WORD_BITS][8 * j +: 8] <= s_axilite_WDATA[8 * (j % 4) +: 8];
		end
	end

	//----- output FIFO, with credits so the pipeline never stalls
	logic [$clog2(FIFO_D):0]  fifo_count;
	logic  push;
	logic [OUT_W-1:0]  push_data;
	bnn2hw_out_fifo #(.W(OUT_W), .DEPTH(FIFO_D)) out_fifo (
		.clk, .rst_n, .push, .push_data, .count(fifo_count),
		.m_axis_tdata, .m_axis_tvalid, .m_axis_tready
	);

	//----- stage 0: issue (nf, sf); the first neuron fold reads the stream, later folds the buffer
	logic [NF_W-1:0]  nf;
	logic [$clog2(SF > 1 ? SF : 2)-1:0]  sf;
	logic [$clog2(WMEM > 1 ? WMEM : 2)-1:0]  waddr;
	logic [IN_W-1:0]  ibuf [SF];
	logic  credit, issue, need_input;
	assign	credit = fifo_count + IN_FLIGHT < FIFO_D;
	assign	need_input = nf == 0;
	assign	issue = credit && (!need_input || s_axis_tvalid);
	assign	s_axis_tready = credit && need_input;
	always_ff @(posedge clk) begin
		if (!rst_n) begin
			nf <= 0;  sf <= 0;  waddr <= 0;
		end else if (issue) begin
			if (need_input)  ibuf[sf] <= s_axis_tdata;
			waddr <= waddr == WMEM - 1 ? 0 : waddr + 1;
			if (sf == SF - 1) begin
				sf <= 0;
				nf <= nf == NF - 1 ? 0 : nf + 1;
			end else  sf <= sf + 1;
		end
	end

	//----- stage 1: weight memory read; stage 2: its output registered (a block RAM's read data
	// arrives late in the cycle: nothing else is on that path)
	logic  v0, first0, last0, v1, first1, last1;
	logic [NF_W-1:0]  nf0, nf1;
	logic [IN_W-1:0]  x0, x1;
	logic [MEM_W-1:0]  w0, w1;
	always_ff @(posedge clk) begin
		if (!rst_n) begin
			v0 <= 0;  v1 <= 0;
		end else begin
			v0 <= issue;  v1 <= v0;
		end
		x0 <= need_input ? s_axis_tdata : ibuf[sf];
		w0 <= wmem[waddr];
		nf0 <= nf;
		first0 <= sf == 0;
		last0 <= sf == SF - 1;
		{x1, w1, nf1, first1, last1} <= {x0, w0, nf0, first0, last0};
	end
	logic [MEM_W-1:0]  wx;  // the weight line the lanes use: w1, or w1 XOR the sampler's flips
	if (PBITS != 0) begin : gen_sampler
		logic [PE*SIMD-1:0]  flip;
		if (WBITS != 1)  $error("bnn2hw_mvau: the posterior sampler flips 1-bit weights only");
		bnn2hw_sampler #(.E(PE * SIMD), .B(PBITS), .WMEM(WMEM), .PROB_FILE(PROB_FILE), .LANE_SEEDS(LANE_SEEDS))
			sampler (.clk, .rst_n, .step(issue), .addr(waddr), .passes(ens_passes), .flip);
		assign	wx = w1 ^ MEM_W'(flip);
	end else begin : gen_mode
		assign	wx = w1;
	end

	//----- stages 3 .. TREE_LAT + 2: the SIMD lane terms and their adder tree, per PE
	// tree[p][l][i]: node i of level l (level 0: the lane terms); q: what level l + 1 reads (the
	// node, or its register). XNOR levels add (l + 1)-bit counts; integer levels PART_W-bit sums.
	logic signed [PART_W-1:0]  tree [PE][LEVELS + 1][SIMD] /* verilator split_var */;
	logic signed [PART_W-1:0]  q [PE][LEVELS + 1][SIMD] /* verilator split_var */;
	logic signed [PART_W-1:0]  part [PE];  // the tree's registered sum
	for (genvar p = 0; p < PE; p++) begin : gen_pe
		assign	part[p] = q[p][LEVELS][0];
		for (genvar s = 0; s < SIMD; s++) begin : gen_lane
			if (XNOR) begin : gen_xnor
				assign	tree[p][0][s] = PART_W'({x1[s] ~^ wx[p * SIMD + s]});  // {}: a 1-bit XNOR
			end else begin : gen_int
				logic signed [IBITS:0]  xv;
				logic [WBITS-1:0]  wraw;
				logic signed [WBITS:0]  wv;
				assign	xv = ISIGNED ? $signed({x1[s * IN_BITS + IN_BITS - 1], x1[s * IN_BITS +: IN_BITS]})
				                     : $signed({1'b0, x1[s * IN_BITS +: IN_BITS]});
				assign	wraw = wx[(p * SIMD + s) * WBITS +: WBITS];
				assign	wv = WSIGNED ? $signed({wraw[WBITS - 1], wraw}) : $signed({1'b0, wraw});
				assign	tree[p][0][s] = WBIPOLAR ? (wraw[0] ? PART_W'(xv) : -PART_W'(xv))
				                                 : PART_W'(xv) * PART_W'(wv);
			end
		end
		for (genvar l = 0; l <= LEVELS; l++) begin : gen_level
			localparam int unsigned N = (SIMD + 2 ** l - 1) / 2 ** l;  // nodes on level l
			localparam int unsigned LW = XNOR ? l + 1 : PART_W;       // width of a level-l sum
			for (genvar i = 0; i < N; i++) begin : gen_node
				if (l > 0) begin : gen_sum
					if (2 * i + 1 < (SIMD + 2 ** (l - 1) - 1) / 2 ** (l - 1)) begin : gen_pair
						logic [LW-1:0]  sum;
						if (XNOR) begin : gen_count  // two l-bit counts, one (l + 1)-bit sum
							assign	sum = LW'(q[p][l - 1][2 * i][LW - 2:0]) + LW'(q[p][l - 1][2 * i + 1][LW - 2:0]);
							assign	tree[p][l][i] = PART_W'(sum);
						end else begin : gen_add
							assign	tree[p][l][i] = q[p][l - 1][2 * i] + q[p][l - 1][2 * i + 1];
						end
					end else begin : gen_single
						assign	tree[p][l][i] = q[p][l - 1][2 * i];
					end
				end
				if (level_registered(l)) begin : gen_reg
					always_ff @(posedge clk)  q[p][l][i] <= tree[p][l][i];
				end else begin : gen_wire
					assign	q[p][l][i] = tree[p][l][i];
				end
			end
		end
	end
	logic  vt, firstt, lastt;  // the fold's valid, first and last fold, neuron fold, beside the tree
	logic [NF_W-1:0]  nft;
	bnn2hw_pipe #(.W(NF_W + 2), .STAGES(TREE_LAT)) tree_side (
		.clk, .rst_n, .in_valid(v1), .in_data({first1, last1, nf1}), .out_valid(vt),
		.out_data({firstt, lastt, nft}));

	//----- accumulate over the SF folds; the threshold memory is read for the fold's neurons
	logic [ACC_BITS-1:0]  acc [PE];
	logic [ACC_BITS-1:0]  acc_next [PE];
	logic  va;
	logic [ACC_BITS-1:0]  acc2 [PE];
	logic [TMEM_W-1:0]  t2;
	always_comb begin
		for (int unsigned p = 0; p < PE; p++)
			acc_next[p] = (firstt ? ACC_BITS'(0) : acc[p]) + ACC_BITS'(part[p]);
	end
	always_ff @(posedge clk) begin
		if (!rst_n)  va <= 0;
		else  va <= vt && lastt;
		if (vt)  acc <= acc_next;
		acc2 <= acc_next;
		t2 <= tmem[nft];
	end

	//----- threshold compares (or the accumulator itself), then the output count into the FIFO
	logic  vc, vo;
	logic [STEPS-1:0]  passed [PE];
	logic [ACC_BITS-1:0]  acc3 [PE];
	logic [OUT_W-1:0]  out_q;
	always_ff @(posedge clk) begin
		if (!rst_n) begin
			vc <= 0;  vo <= 0;
		end else begin
			vc <= va;  vo <= vc;
		end
		for (int unsigned p = 0; p < PE; p++) begin
			logic signed [CMP_W-1:0]  a, t;
			a = ACC_SIGNED ? CMP_W'($signed(acc2[p])) : CMP_W'($unsigned(acc2[p]));
			for (int unsigned st = 0; st < STEPS; st++) begin
				logic [TBITS-1:0]  raw;
				raw = t2[(p * STEPS + st) * TBITS +: TBITS];
				t = TSIGNED ? CMP_W'($signed(raw)) : CMP_W'($unsigned(raw));
				passed[p][st] <= (t <= a);
			end
		end
		acc3 <= acc2;
		for (int unsigned p = 0; p < PE; p++) begin
			logic [OBITS-1:0]  o;
			if (NO_ACT)  o = OBITS'(acc3[p]);
			else begin
				o = OBITS'(ACT_VAL);
				for (int unsigned st = 0; st < STEPS; st++)  o = o + OBITS'(passed[p][st]);
			end
			out_q[p * OBITS +: OBITS] <= o;
		end
	end
	assign	push = vo;
	assign	push_data = out_q;
endmodule
