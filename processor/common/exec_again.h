// Starting the program again in the same process: the same PID, arguments and
// environment, and none of the state. How a processor that lost its role to another
// one becomes a standby again: nothing it held can leak into what it does next, and a
// supervisor watching the PID sees no exit.
#pragma once

namespace pricing {

// Called first thing in main().
void RememberArguments(int argc, char** argv);

// Every descriptor but stdin, stdout and stderr is closed on the way (listening
// sockets and connections included). Returns only if exec failed (errno says why).
void ExecAgain();

}  // namespace pricing
