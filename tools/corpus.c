#include "cli.h"
int check_corpus(const cli_opts *o, const char *dir) { (void)o; (void)dir; return CLI_OK; }
int cmd_corpus(cli_opts *o, int nargs, char **args) { (void)o; (void)nargs; (void)args; return CLI_OK; }
