// bnn2hw_pipe: a valid bit and W bits of data delayed by STAGES clock cycles (STAGES = 0: wires).
//
// What travels beside a pipelined datapath (bnn2hw_mvau's and bnn2hw_label_select's adder and
// tournament trees): `out_valid` is `in_valid` STAGES cycles ago (reset to 0), `out_data` is
// `in_data` STAGES cycles ago (no reset). No handshake: the pipeline it follows never stalls.
module bnn2hw_pipe #(
	int unsigned W = 1,
	int unsigned STAGES = 1
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic  in_valid,
	input	logic [W-1:0]  in_data,
	output	logic  out_valid,
	output	logic [W-1:0]  out_data
);
	logic  valid [STAGES + 1];
	logic [W-1:0]  data [STAGES + 1];
	assign	valid[0] = in_valid;
	assign	data[0] = in_data;
	for (genvar k = 1; k <= STAGES; k++) begin : gen_stage
		always_ff @(posedge clk) begin
			if (!rst_n)  valid[k] <= 0;
			else  valid[k] <= valid[k - 1];
			data[k] <= data[k - 1];
		end
	end
	assign	out_valid = valid[STAGES];
	assign	out_data = data[STAGES];
endmodule
