complete --keep-order --exclusive --command visitrec --arguments "(COMPLETE=fish visitrec -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
