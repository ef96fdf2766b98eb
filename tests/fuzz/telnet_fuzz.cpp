// Fuzz target: the worker's telnet option parser (src/worker/telnet), on what a telnet
// server (or a hostile device) sends.
//
// Input: [split seed] raw bytes from the server...
//
// Checks (telnet.hpp): cutting the stream anywhere changes neither the data nor the
// replies; replies are whole IAC DO/DONT/WONT commands, a server's DO is refused at most
// once per option and a refused WILL is refused at most once (two polite peers never
// loop); no more data comes out than went in; and data escaped with Filter::escape comes
// back unchanged (but for the NUL after a CR, which telnet defines as a bare CR).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "worker/telnet.hpp"

namespace telnet = netkeep::worker::telnet;
using netkeep::fuzz::Chunker;

namespace {

void check_replies(std::string_view reply) {
    FUZZ_CHECK(reply.size() % 3 == 0);
    std::array<int, 256> wont{}, dont{};
    for (std::size_t i = 0; i < reply.size(); i += 3) {
        const auto iac = static_cast<unsigned char>(reply[i]);
        const auto command = static_cast<unsigned char>(reply[i + 1]);
        const auto option = static_cast<unsigned char>(reply[i + 2]);
        FUZZ_CHECK(iac == telnet::k_iac);
        FUZZ_CHECK(command == telnet::k_do || command == telnet::k_dont ||
                   command == telnet::k_wont);
        // We never enable an option of ours, so a DO is refused once and for all.
        if (command == telnet::k_wont) FUZZ_CHECK(++wont[option] == 1);
        // Options we never accept are refused once; ECHO and SGA may go back and forth as
        // the server turns them on and off.
        if (command == telnet::k_dont && option != telnet::k_opt_echo &&
            option != telnet::k_opt_sga)
            FUZZ_CHECK(++dont[option] == 1);
        if (command == telnet::k_do)
            FUZZ_CHECK(option == telnet::k_opt_echo || option == telnet::k_opt_sga);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string_view raw = netkeep::fuzz::as_text(data + 1, size - 1);

    telnet::Filter whole;
    std::string data_whole, reply_whole;
    whole.feed(raw, data_whole, reply_whole);
    FUZZ_CHECK(data_whole.size() <= raw.size());
    check_replies(reply_whole);

    telnet::Filter chunked;
    std::string data_chunked, reply_chunked;
    Chunker chunker(raw, data[0]);
    while (!chunker.done()) chunked.feed(chunker.next(), data_chunked, reply_chunked);
    FUZZ_CHECK(data_chunked == data_whole);
    FUZZ_CHECK(reply_chunked == reply_whole);

    // The escape round trip, with the input read as data to send.
    std::string expected;
    for (std::size_t i = 0; i < raw.size(); ++i)
        if (!(raw[i] == '\0' && i > 0 && raw[i - 1] == '\r')) expected += raw[i];
    telnet::Filter echo;
    std::string back, reply;
    echo.feed(telnet::Filter::escape(raw), back, reply);
    FUZZ_CHECK(back == expected);
    FUZZ_CHECK(reply.empty());
    return 0;
}
