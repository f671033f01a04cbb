// bnn2hw_uart_tx: UART transmitter, 8N1, LSB first.
//
// DIVISOR = CLK_HZ / BAUD clock cycles per bit. AXI-stream slave: a byte is taken
// (`s_tvalid && s_tready`) when the transmitter is idle; it then sends the start bit, 8 data
// bits and one stop bit, DIVISOR cycles each, and takes the next byte right after the stop bit
// (back-to-back characters, 10 bit times each). `s_tready` is a register (no combinational path
// from s_tvalid). Latency: the start bit is on `tx` the cycle after the byte is taken.
module bnn2hw_uart_tx #(
	int unsigned DIVISOR = 16
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic [7:0]  s_tdata,
	input	logic  s_tvalid,
	output	logic  s_tready,
	output	logic  tx
);
	localparam int unsigned CW = $clog2(DIVISOR + 1);
	logic [CW-1:0]  count;
	logic [3:0]  bits_left;
	logic [8:0]  shift;            // data bits then the stop bit, sent from bit 0
	always_ff @(posedge clk) begin
		if (!rst_n) begin
			tx <= 1'b1;
			s_tready <= 1'b0;
			bits_left <= '0;
			count <= '0;
		end else if (bits_left == 0 && count == 0) begin
			if (s_tready && s_tvalid) begin
				tx <= 1'b0;              // start bit
				shift <= {1'b1, s_tdata};
				bits_left <= 4'd9;
				count <= CW'(DIVISOR - 1);
				s_tready <= 1'b0;
			end else begin
				tx <= 1'b1;
				s_tready <= 1'b1;
			end
		end else if (count != 0) begin
			count <= count - 1'b1;
		end else begin
			tx <= shift[0];
			shift <= {1'b1, shift[8:1]};
			bits_left <= bits_left - 1'b1;
			count <= CW'(DIVISOR - 1);
		end
	end
endmodule
