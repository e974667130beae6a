/*
 * commands.h - entry points of the query subcommands, called by main.c's
 * dispatch table with argv[0] = the subcommand's name.
 *
 * Threads: single-threaded.
 *
 * Exit codes (all of them): 0 success, 1 runtime error (server down, HTTP
 * error, bad answer, I/O), 2 usage error.
 */
#ifndef PYRITE_CLI_COMMANDS_H
#define PYRITE_CLI_COMMANDS_H

int pyr_cli_cmd_top(int argc, char **argv);
int pyr_cli_cmd_diff(int argc, char **argv);
int pyr_cli_cmd_bottleneck(int argc, char **argv);
int pyr_cli_cmd_render(int argc, char **argv);
int pyr_cli_cmd_pprof(int argc, char **argv);

#endif /* PYRITE_CLI_COMMANDS_H */
