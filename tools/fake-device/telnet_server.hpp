#pragma once
// The telnet side of the fake device: plain TCP, IAC negotiation offered and the client's
// answers swallowed, an IOS-style login, then the same Cli as over SSH.

#include "farm.hpp"
#include "net.hpp"

namespace netkeep::fake_device {

// Accepts until connections.stop(), one thread per connection; runs on the calling thread.
void run_telnet_server(Listener listener, const Farm& farm, Connections& connections);

}  // namespace netkeep::fake_device
