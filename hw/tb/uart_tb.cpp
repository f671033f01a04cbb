// uart_tb: Verilator testbench for the UART shell (bnn2hw_uart_top: clk, uart_rx, uart_tx, led)
// with a bit-level UART model on both lines. DIVISOR (clock cycles per bit) is a compile-time
// define, as in the design.
//
//   uart_tb batch HOST.bin N_HOST BOARD.bin CYCLES.bin N_EXPECT IDLE_LIMIT
//   uart_tb stream IDLE_MS [SETTLE_CYCLES]
//
// batch: HOST.bin holds N_HOST uint32 entries, each (gap << 8) | byte: the host keeps its line
// idle (high) for `gap` clock cycles, then sends `byte` as 8N1 (start bit, 8 data bits LSB first,
// stop bit, DIVISOR cycles each). The model samples uart_tx in the middle of every bit and writes
// each byte the board sent to BOARD.bin (uint8) and the cycle its stop bit was sampled to
// CYCLES.bin (uint64). It stops when N_EXPECT bytes came back (0: unknown), or when the host is
// done and the board has been silent for IDLE_LIMIT cycles. A stop bit of 0 on uart_tx is an
// error (exit status 3). Prints "cycles N" at the end.
//
// stream: a serial-port model for a live host (the deploy driver through a pseudo-terminal):
// bytes read from stdin are sent on uart_rx back to back, bytes from uart_tx are written to
// stdout at once. Simulated time stops while there is nothing to do (no host byte pending, both
// lines idle for SETTLE_CYCLES, default 64 bit times: give at least the accelerator's latency);
// the shell's inter-byte timeout only runs when the host has been silent for IDLE_MS
// milliseconds of wall time, so a slow host does not look like a lost byte. The first 64 bit
// times (power-on reset) run before any host byte is read.
// Ends at end of input (or an I/O error: the terminal was closed).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>
#include <poll.h>
#include <unistd.h>
#include "verilated.h"
#include "Vbnn2hw_tb_top.h"  // bnn2hw.eda.verilator.build names every model class so

struct LineOut {      // drives uart_rx: the host's transmitter
    std::deque<uint32_t> queue;  // (gap << 8) | byte
    uint64_t count = 0;          // cycles left in the current bit / gap
    int phase = -2;              // -2 idle, -1 gap, 0 start, 1..8 data, 9 stop
    uint8_t byte = 0;
    int level() const {
        if (phase == 0) return 0;
        if (phase >= 1 && phase <= 8) return (byte >> (phase - 1)) & 1;
        return 1;
    }
    bool busy() const { return phase != -2 || !queue.empty(); }
    void step() {             // once per clock cycle
        if (count > 0) { count--; if (count > 0) return; }
        if (phase >= 0 && phase < 9) { phase++; count = DIVISOR; return; }
        if (phase == -1) { phase = 0; count = DIVISOR; return; }
        phase = -2;
        if (queue.empty()) return;
        const uint32_t e = queue.front(); queue.pop_front();
        byte = e & 0xFF;
        const uint64_t gap = e >> 8;
        if (gap) { phase = -1; count = gap; } else { phase = 0; count = DIVISOR; }
    }
};

struct LineIn {       // samples uart_tx: the host's receiver
    int phase = -1;   // -1 idle, 0 start, 1..8 data, 9 stop
    uint64_t count = 0;
    uint8_t byte = 0;
    int last = 1;
    // returns 0..255 for a byte completed this cycle, -1 none, -2 framing error
    int step(int line) {
        int result = -1;
        if (phase < 0) {
            if (last == 1 && line == 0) { phase = 0; count = DIVISOR / 2; }
        } else if (--count == 0) {
            if (phase == 0) {
                if (line) phase = -1; else { phase = 1; count = DIVISOR; }
            } else if (phase <= 8) {
                byte = static_cast<uint8_t>((byte >> 1) | (line << 7)); phase++; count = DIVISOR;
            } else {
                result = line ? byte : -2; phase = -1;
            }
        }
        last = line;
        return result;
    }
};

struct Bench {
    Vbnn2hw_tb_top* top = new Vbnn2hw_tb_top;
    uint64_t cycle = 0;
    LineOut host_tx;
    LineIn host_rx;
    int tick() {   // one clock cycle; returns what the host receiver saw
        host_tx.step();
        top->uart_rx = host_tx.level();
        top->clk = 1; top->eval();
        top->clk = 0; top->eval();
        cycle++;
        return host_rx.step(top->uart_tx);
    }
};

static int run_batch(char** argv) {
    const std::size_t n_host = std::strtoull(argv[3], nullptr, 10);
    const std::size_t n_expect = std::strtoull(argv[6], nullptr, 10);
    const uint64_t idle_limit = std::strtoull(argv[7], nullptr, 10);
    std::vector<uint32_t> host(n_host);
    FILE* f = std::fopen(argv[2], "rb");
    if (!f || std::fread(host.data(), 4, n_host, f) != n_host) {
        std::fprintf(stderr, "uart_tb: cannot read %zu entries from %s\n", n_host, argv[2]);
        return 2;
    }
    std::fclose(f);
    Bench b;
    b.host_tx.queue.assign(host.begin(), host.end());
    std::vector<uint8_t> got;
    std::vector<uint64_t> when;
    uint64_t silent = 0;
    int status = 0;
    while (!(n_expect && got.size() >= n_expect)) {
        const int r = b.tick();
        if (r >= 0) { got.push_back(static_cast<uint8_t>(r)); when.push_back(b.cycle); silent = 0; }
        else if (r == -2) { std::fprintf(stderr, "uart_tb: framing error on uart_tx\n"); status = 3; break; }
        else if (!b.host_tx.busy() && b.host_rx.phase < 0 && ++silent > idle_limit) break;
    }
    f = std::fopen(argv[4], "wb");
    std::fwrite(got.data(), 1, got.size(), f);
    std::fclose(f);
    f = std::fopen(argv[5], "wb");
    std::fwrite(when.data(), 8, when.size(), f);
    std::fclose(f);
    std::printf("cycles %llu\n", static_cast<unsigned long long>(b.cycle));
    b.top->final();
    delete b.top;
    return status;
}

static bool read_host(Bench& b, int wait_ms) {   // false at end of input
    pollfd p{0, POLLIN, 0};
    const int ready = poll(&p, 1, wait_ms);
    if (ready < 0) return errno == EINTR;
    if (ready == 0) return true;
    uint8_t buf[4096];
    const ssize_t n = read(0, buf, sizeof buf);
    if (n <= 0) return false;
    for (ssize_t i = 0; i < n; i++) b.host_tx.queue.push_back(buf[i]);
    return true;
}

static int run_stream(char** argv) {
    const int idle_ms = std::atoi(argv[2]);
    Bench b;
    const uint64_t settle = argv[3] ? std::strtoull(argv[3], nullptr, 10) : 64ull * DIVISOR;
    uint64_t quiet = 0;    // cycles with both lines idle
    bool open = true;
    auto step = [&]() {    // one cycle; board bytes go to stdout at once
        const int r = b.tick();
        if (r >= 0) {
            const uint8_t c = static_cast<uint8_t>(r);
            if (write(1, &c, 1) != 1) open = false;
        }
        quiet = (b.host_tx.busy() || b.host_rx.phase >= 0) ? 0 : quiet + 1;
    };
    for (uint64_t i = 0; i < 64ull * DIVISOR; i++) step();   // power-on reset before the host's bytes
    while (open || b.host_tx.busy()) {
        if (open && !b.host_tx.busy() && quiet > settle) {
            const std::size_t before = b.host_tx.queue.size();
            open = read_host(b, idle_ms);
            if (open && b.host_tx.queue.size() == before)        // the host silent for IDLE_MS
                for (uint64_t i = 0; i < 1000ull * DIVISOR && open; i++) step();
            continue;
        }
        if (open && b.host_tx.queue.empty()) open = read_host(b, 0);   // what has arrived, no waiting
        step();
    }
    b.top->final();
    delete b.top;
    return 0;
}

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    if (argc >= 8 && std::string(argv[1]) == "batch") return run_batch(argv);
    if (argc >= 3 && std::string(argv[1]) == "stream") return run_stream(argv);
    std::fprintf(stderr, "usage: uart_tb batch HOST.bin N_HOST BOARD.bin CYCLES.bin N_EXPECT IDLE_LIMIT\n"
                         "       uart_tb stream IDLE_MS\n");
    return 2;
}
