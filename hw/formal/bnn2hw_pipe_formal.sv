// Formal harness of bnn2hw_pipe (W = 3 bits of data, STAGES from proofs.toml).
//
// Proves: out_valid is in_valid STAGES cycles ago, with the cycles in reset counting as invalid
// (the valid bits are reset, so nothing leaves during reset or in the STAGES cycles after it
// unless it entered after reset); out_data is in_data STAGES cycles ago once STAGES cycles have
// passed (the data has no reset). The harness keeps its own delay line of STAGES entries.
// Mode: k-induction (`mode prove`) at depth STAGES + 2: the outputs depend only on the inputs of
// the last STAGES cycles, so any STAGES + 1 steps that satisfy the properties pin the state.
module bnn2hw_pipe_formal #(
	int unsigned STAGES = 3,
	localparam int unsigned W = 3
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic  in_valid,
	input	logic [W-1:0]  in_data
);
	logic  out_valid;
	logic [W-1:0]  out_data;
	bnn2hw_pipe #(.W(W), .STAGES(STAGES)) dut (.clk, .rst_n, .in_valid, .in_data, .out_valid, .out_data);

	bnn2hw_f_reset f_reset (.clk, .rst_n);
	logic  f_valid [STAGES + 1];
	logic [W-1:0]  f_data [STAGES + 1];
	logic [$clog2(STAGES + 2)-1:0]  f_age = '0;   // cycles since the start, saturating at STAGES
	assign	f_valid[0] = in_valid;
	assign	f_data[0] = in_data;
	always_ff @(posedge clk) begin
		if (f_age < STAGES)  f_age <= f_age + 1'b1;
		for (int unsigned k = 1; k <= STAGES; k++) begin
			f_valid[k] <= rst_n && f_valid[k - 1];
			f_data[k] <= f_data[k - 1];
		end
	end
	// The harness's valid line drops an entry in the cycle rst_n is low; the DUT's register does the
	// same on that edge, so both agree from the first edge after the reset of the first cycle.
	always_comb if (f_age >= STAGES) begin
		assert(out_valid == f_valid[STAGES]);
		assert(out_data == f_data[STAGES]);
	end
endmodule
