// bnn2hw_uart_rx: UART receiver, 8N1, LSB first, sampled at the clock rate.
//
// DIVISOR = CLK_HZ / BAUD clock cycles per bit (>= 4; bnn2hw.eda.shell checks the rounding error
// stays under 2 %). `rx` goes through a two-flop synchroniser. A falling edge on an idle line
// starts a character; the start bit is checked again half a bit later (a shorter glitch is
// ignored), then each data bit and the stop bit are sampled in the middle of their bit time.
// Output: `m_tdata` with a one-cycle `m_tvalid` pulse (a UART cannot be stalled: the consumer
// takes every byte); a stop bit read as 0 gives `frame_err` (one-cycle pulse) instead of a byte.
// `idle` is high while no character is being received. Latency: the byte is out 1-2 cycles after
// the middle of its stop bit, i.e. about 9.5 bit times after its start edge.
module bnn2hw_uart_rx #(
	int unsigned DIVISOR = 16
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic  rx,
	output	logic [7:0]  m_tdata,
	output	logic  m_tvalid,
	output	logic  frame_err,
	output	logic  idle
);
	localparam int unsigned CW = $clog2(DIVISOR + 1);
	logic [1:0]  sync = 2'b11;
	logic  line, busy;
	logic [CW-1:0]  count;
	logic [3:0]  bit_index;      // 0: start bit, 1..8: data bits, 9: stop bit
	logic [7:0]  shift;
	assign	line = sync[1];
	assign	idle = !busy;

	always_ff @(posedge clk) sync <= {sync[0], rx};

	always_ff @(posedge clk) begin
		m_tvalid <= 1'b0;
		frame_err <= 1'b0;
		if (!rst_n) begin
			busy <= 1'b0;
			count <= '0;
			bit_index <= '0;
		end else if (!busy) begin
			if (!line) begin             // start edge: sample the start bit's middle next
				busy <= 1'b1;
				count <= CW'(DIVISOR / 2 - 1);
				bit_index <= '0;
			end
		end else if (count != 0) begin
			count <= count - 1'b1;
		end else begin
			count <= CW'(DIVISOR - 1);
			bit_index <= bit_index + 1'b1;
			if (bit_index == 0) begin
				if (line) busy <= 1'b0;      // a glitch, not a start bit
			end else if (bit_index <= 8) begin
				shift <= {line, shift[7:1]};
			end else begin
				busy <= 1'b0;
				m_tdata <= shift;
				m_tvalid <= line;
				frame_err <= !line;
			end
		end
	end
endmodule
