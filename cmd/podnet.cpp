// podnet: the command-line entry point. Subcommands parse flags and call into the libraries.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/demo.h"

int main(int argc, char** argv) {
  CLI::App app{"podnet: the Kubernetes networking model as one fast program"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("podnet 0.1.0"));

  podnet::cli::DemoOptions demo;
  auto* demo_cmd =
      app.add_subcommand("demo", "Two pods on one node connected through podnet-cni, talking, then removed");
  demo_cmd->add_option("--cni-bin", demo.cni_binary, "Path of podnet-cni (default: next to podnet)");
  demo_cmd->add_option("--subnet", demo.subnet, "Pod subnet inside the demo's node namespace");

  CLI11_PARSE(app, argc, argv);
  if (demo_cmd->parsed()) return podnet::cli::run_demo(demo);
  return 0;
}
