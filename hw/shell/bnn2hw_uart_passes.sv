// bnn2hw_uart_passes: the UART shell's passes gate: sets the accelerator's `ens_passes` per frame.
//
// Between bnn2hw_uart_framer's output stream (`s_axis_*`, IN_WORDS words of IN_WIDTH bits per
// image) and the accelerator's input (`m_axis_*`). Every good frame's K arrives with its token
// (`commit`, a pulse with `commit_passes`, in frame order) and waits in a queue of DEPTH entries
// (at least the frames the framer's buffer can hold). The accelerator's ens_passes must not change
// while an image is in flight (bnn2hw_sampler, the stitched top's replay): a frame whose K equals
// the current `ens_passes` streams straight on; one with another K waits until every frame let in
// before it has left the accelerator (`frame_done` from bnn2hw_uart_replier: its last output word
// taken), then `ens_passes` takes its K and, one cycle later, the frame streams on. So frames of one K
// stream back to back; a change of K drains the pipeline once.
// Handshake: m_axis_tvalid = s_axis_tvalid and the gate open, s_axis_tready = m_axis_tready and the
// gate open; the gate only opens or closes at a frame's first word, and never closes while that word
// is offered (no combinational path from tvalid to tready). Latency: none while open.
module bnn2hw_uart_passes #(
	int unsigned IN_WIDTH = 64,
	int unsigned IN_WORDS = 1,
	int unsigned DEPTH = 4,               // a power of two
	int unsigned INFLIGHT_BITS = 8        // counts frames in flight: more than the shell's TOKENS
)(
	input	logic  clk,
	input	logic  rst_n,
	input	logic  commit,
	input	logic [15:0]  commit_passes,
	input	logic [IN_WIDTH-1:0]  s_axis_tdata,
	input	logic  s_axis_tvalid,
	output	logic  s_axis_tready,
	output	logic [IN_WIDTH-1:0]  m_axis_tdata,
	output	logic  m_axis_tvalid,
	input	logic  m_axis_tready,
	input	logic  frame_done,
	output	logic [15:0]  ens_passes
);
	localparam int unsigned QA = DEPTH > 1 ? $clog2(DEPTH) : 1;
	localparam int unsigned WW = IN_WORDS > 1 ? $clog2(IN_WORDS) : 1;

	logic [15:0]  queue [DEPTH];
	logic [QA:0]  q_wr, q_rd;
	logic [WW-1:0]  word;
	logic [INFLIGHT_BITS-1:0]  inflight;
	logic  q_any, open, hs, frame_start;
	assign	q_any = q_wr != q_rd;
	assign	open = word != 0 || (q_any && queue[q_rd[QA-1:0]] == ens_passes);
	assign	m_axis_tdata = s_axis_tdata;
	assign	m_axis_tvalid = s_axis_tvalid && open;
	assign	s_axis_tready = m_axis_tready && open;
	assign	hs = m_axis_tvalid && m_axis_tready;
	assign	frame_start = hs && word == 0;

	always_ff @(posedge clk) begin
		if (!rst_n) begin
			q_wr <= '0;  q_rd <= '0;  word <= '0;  inflight <= '0;  ens_passes <= '0;
		end else begin
			if (commit) begin
				queue[q_wr[QA-1:0]] <= commit_passes;
				q_wr <= q_wr + 1'b1;
			end
			if (frame_start)  q_rd <= q_rd + 1'b1;
			if (hs)  word <= word == WW'(IN_WORDS - 1) ? '0 : word + 1'b1;
			inflight <= inflight + INFLIGHT_BITS'(frame_start) - INFLIGHT_BITS'(frame_done);
			// a new K only with nothing in flight: the gate is closed, so no word is offered meanwhile
			if (word == 0 && q_any && queue[q_rd[QA-1:0]] != ens_passes && inflight == 0)
				ens_passes <= queue[q_rd[QA-1:0]];
		end
	end
endmodule
