// Formal harness of bnn2hw_crc8 (combinational: no stream, so no handshake to prove).
//
// Proves, for every crc_in and data (all 2^16 pairs): crc_out is CRC-8/SMBUS computed another way,
// bit-serially (the message bit XORed into the register's top bit, MSB first, polynomial 0x07),
// the textbook form; and the byte-wise bnn2hw_f::crc8 the framer and replier harnesses model
// frames with equals it too.
// Mode: k-induction (`mode prove`) at depth 1: there is no state, so one step is the whole proof.
module bnn2hw_crc8_formal (
	input	logic  clk,
	input	logic [7:0]  crc_in,
	input	logic [7:0]  data
);
	logic [7:0]  crc_out;
	bnn2hw_crc8 dut (.crc_in, .data, .crc_out);

	function automatic logic [7:0] crc8_bitwise(input logic [7:0] crc, input logic [7:0] message);
		for (int i = 7; i >= 0; i--)
			crc = {crc[6:0], 1'b0} ^ ((crc[7] ^ message[i]) ? 8'h07 : 8'h00);
		return crc;
	endfunction

	always_comb begin
		assert(crc_out == crc8_bitwise(crc_in, data));
		assert(bnn2hw_f::crc8(crc_in, data) == crc8_bitwise(crc_in, data));  // the harnesses' model
	end
endmodule
