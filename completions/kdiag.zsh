#compdef kdiag

_kdiag_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _KDIAG_COMPLETE=complete_zsh kdiag)
}

compdef _kdiag_completion kdiag
