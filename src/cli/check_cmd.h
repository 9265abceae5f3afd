// `podnet check` and the hidden `podnet check-agent` its pods run: the flags, registered on the
// app by add_check_commands, run by run_check_commands when one of them was given.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

namespace podnet::cli {

struct CheckCommands;
// Registers the subcommands; the returned object holds their flags until the parse is over.
std::shared_ptr<CheckCommands> add_check_commands(CLI::App& app);
// The exit code when one of them was parsed, -1 otherwise.
int run_check_commands(const CheckCommands& cmds);

}  // namespace podnet::cli
