/*
 * main.c - the `pyrite` command-line tool: dispatch to subcommands.
 *
 * What: `pyrite --help`, `pyrite version`, and the subcommand table of
 * DESIGN §3.4.  Subcommands whose implementation has not landed yet are
 * listed with available = false and say so (exit 2) instead of pretending.
 *
 * Threads: single-threaded.
 *
 * Exit codes: 0 success, 1 a subcommand failed, 2 usage error or a
 * subcommand not available in this build.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "convert.h"

#ifndef PYRITE_VERSION
#define PYRITE_VERSION "unknown"
#endif

enum { EXIT_USAGE = 2 };

struct pyr_cli_cmd {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* NULL: not in this build yet */
};

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct pyr_cli_cmd commands[] = {
    {"convert", "convert a JFR recording to collapsed stacks per profile",
     pyr_cli_convert},
    {"top", "print the hottest functions of an app from a server",
     pyr_cli_cmd_top},
    {"diff", "compare two time ranges of an app: what grew, what shrank",
     pyr_cli_cmd_diff},
    {"bottleneck", "classify apps as CPU-, allocation-, lock- or wait-bound",
     pyr_cli_cmd_bottleneck},
    {"render", "write a flame graph as standalone HTML or collapsed stacks",
     pyr_cli_cmd_render},
    {"pprof", "export an app's merged profile from a server as pprof",
     pyr_cli_cmd_pprof},
    {"version", "print the version", cmd_version},
    {"help", "show this help", cmd_help},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f) {
  fprintf(f, "Usage: pyrite <command> [options]\n"
             "\n"
             "Pyrite command-line tool (version %s).\n"
             "\n"
             "Commands:\n",
          PYRITE_VERSION);
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-11s %s%s\n", commands[i].name, commands[i].summary,
            commands[i].run ? "" : " (not in this build yet)");
  fprintf(f, "\nOptions:\n"
             "  -h, --help     show this help\n"
             "  -V, --version  print the version\n"
             "\n"
             "Query commands talk to pyrited or Grafana Pyroscope (--server, default\n"
             "$PYRITE_SERVER or http://127.0.0.1:4040); 'pyrite <command> --help' lists\n"
             "each command's options.  Example:\n"
             "  pyrite top --server http://127.0.0.1:4040 --app orders --type cpu "
             "--from now-15m\n");
}

static int cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("pyrite %s\n", PYRITE_VERSION);
  return 0;
}

static int cmd_help(int argc, char **argv) {
  (void)argc;
  (void)argv;
  usage(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0)
    return cmd_help(argc - 1, argv + 1);
  if (strcmp(name, "-V") == 0 || strcmp(name, "--version") == 0)
    return cmd_version(argc - 1, argv + 1);

  for (size_t i = 0; i < NCOMMANDS; i++) {
    if (strcmp(name, commands[i].name) != 0)
      continue;
    if (commands[i].run == NULL) {
      fprintf(stderr, "pyrite: '%s' is not available in this build yet\n",
              name);
      return EXIT_USAGE;
    }
    return commands[i].run(argc - 1, argv + 1);
  }
  fprintf(stderr, "pyrite: unknown command '%s' (see pyrite --help)\n", name);
  return EXIT_USAGE;
}
