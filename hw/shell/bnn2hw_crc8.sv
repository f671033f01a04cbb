// bnn2hw_crc8: one byte of CRC-8/SMBUS (polynomial x^8 + x^2 + x + 1 = 0x07, initial value 0,
// MSB first, no final XOR): `crc_out` = CRC of the bytes so far (`crc_in`) followed by `data`.
// Combinational (8 unrolled shift/XOR steps). The UART protocol's checksum; the driver's
// `crc8` (bnn2hw/deploy/driver_template.py) computes the same (CRC of b"123456789" = 0xF4).
module bnn2hw_crc8 (
	input	logic [7:0]  crc_in,
	input	logic [7:0]  data,
	output	logic [7:0]  crc_out
);
	always_comb begin
		crc_out = crc_in ^ data;
		for (int i = 0; i < 8; i++)
			crc_out = crc_out[7] ? {crc_out[6:0], 1'b0} ^ 8'h07 : {crc_out[6:0], 1'b0};
	end
endmodule
