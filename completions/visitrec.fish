# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_visitrec_global_optspecs
    string join \n q/quiet v/verbose actor= h/help V/version
end

function __fish_visitrec_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_visitrec_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_visitrec_using_subcommand
    set -l cmd (__fish_visitrec_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c visitrec -n "__fish_visitrec_needs_command" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_needs_command" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_needs_command" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_needs_command" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_needs_command" -s V -l version -d 'Print version'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "init" -d 'Create a new, empty archive (a BagIt 1.0 bag)'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "ingest" -d 'Add recordings (files or whole folder trees), deduplicated by content'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "normalize" -d 'Make a loudness-normalized mono WAV of each recording (EBU R128, true peak)'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "segment" -d 'Split each recording into speech segments (voice activity, and marks with --at-marks)'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "tag" -d 'Set or remove tags and time-anchored marks of a recording'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "consent" -d 'Record a consent grant or withdrawal, or show a recording\'s consent'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "encrypt" -d 'Encrypt recordings with age into an export bag for a recipient (consent enforced)'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "decrypt" -d 'Decrypt an export into a plaintext BagIt bag, checking every file end to end'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "log" -d 'Print the audit trail (of one recording with ID)'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "list" -d 'List the recordings, one line each'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "show" -d 'Show one recording in full; a unique id prefix is enough'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "verify" -d 'Check an archive\'s integrity (exit 0 intact, 1 problems, 2 could not run)'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "checkpoint" -d 'Sign the head of the audit log with an SSH key (a checkpoint in checkpoints.jsonl)'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "demo" -d 'Run the whole pipeline on the bundled sample recordings'
complete -c visitrec -n "__fish_visitrec_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c visitrec -n "__fish_visitrec_using_subcommand init" -l org -d 'The organisation responsible for the recordings (bag-info Source-Organization)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand init" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand init" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand init" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand init" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l participant -d 'Participant or patient reference recorded with every recording of the batch' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l tag -d 'A tag key=value applied to every recording of the batch (repeatable)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l marks -d 'Marks for the new recordings: CSV lines `time,label` or JSON `[{"at": "03:12", "label": "…"}]`' -r -F
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l consent-scope -d 'Record consent for these purposes (comma-separated) for every new recording' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l consent-by -d 'Who consented (with --consent-scope), e.g. patient:P017' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l consent-method -d 'How consent was given (with --consent-scope)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l consent-witness -d 'Who witnessed it (with --consent-scope)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l consent-date -d 'The date consent took effect (YYYY-MM-DD; default today)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l consent-expires -d 'The last day the consent is valid (YYYY-MM-DD)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l rate -d 'Output sample rate, Hz' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l target-lufs -d 'Integrated loudness to reach, LUFS' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l true-peak -d 'True-peak ceiling, dBTP (the gain is lowered to respect it)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l min-silence -d 'Pauses shorter than this (seconds) never split a segment' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l min-speech -d 'Bursts of speech shorter than this (seconds) are dropped' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l pad -d 'Seconds of padding added to each side of a segment' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l max-hours -d 'Refuse recordings longer than this many hours (fractions allowed, at most 1000): checked against the header before decoding, and again while decoding' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l normalize -d 'Normalize the new recordings (see `visitrec normalize`)'
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l segment -d 'Segment the new recordings (see `visitrec segment`; normalizes first)'
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l at-marks -d 'Also cut at every time-anchored mark; the segment from a mark on carries its label'
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -l json -d 'Print one JSON document to stdout instead of text'
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand ingest" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand normalize" -l rate -d 'Output sample rate, Hz' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand normalize" -l target-lufs -d 'Integrated loudness to reach, LUFS' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand normalize" -l true-peak -d 'True-peak ceiling, dBTP (the gain is lowered to respect it)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand normalize" -l max-hours -d 'Refuse recordings longer than this many hours (fractions allowed, at most 1000): checked against the header before decoding, and again while decoding' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand normalize" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand normalize" -l all -d 'Every recording in the archive'
complete -c visitrec -n "__fish_visitrec_using_subcommand normalize" -l json -d 'Print the report as JSON'
complete -c visitrec -n "__fish_visitrec_using_subcommand normalize" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand normalize" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand normalize" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand segment" -l min-silence -d 'Pauses shorter than this (seconds) never split a segment' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand segment" -l min-speech -d 'Bursts of speech shorter than this (seconds) are dropped' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand segment" -l pad -d 'Seconds of padding added to each side of a segment' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand segment" -l max-hours -d 'Refuse recordings longer than this many hours (fractions allowed, at most 1000): checked against the header before decoding, and again while decoding' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand segment" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand segment" -l all -d 'Every recording in the archive'
complete -c visitrec -n "__fish_visitrec_using_subcommand segment" -l at-marks -d 'Also cut at every time-anchored mark; the segment from a mark on carries its label'
complete -c visitrec -n "__fish_visitrec_using_subcommand segment" -l json -d 'Print the report as JSON'
complete -c visitrec -n "__fish_visitrec_using_subcommand segment" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand segment" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand segment" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand tag" -l set -d 'Set a tag (repeatable). Keys: [a-z0-9][a-z0-9_.-]{0,63}' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand tag" -l unset -d 'Remove a tag (repeatable)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand tag" -l mark -d 'Add a mark (repeatable). TIME is [[h:]mm:]ss[.fff] or seconds' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand tag" -l unmark -d 'Remove the mark at TIME (repeatable)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand tag" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand tag" -l json -d 'Print the result as JSON'
complete -c visitrec -n "__fish_visitrec_using_subcommand tag" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand tag" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand tag" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -l scope -d 'Comma-separated purposes' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -l by -d 'Who consents or withdraws, e.g. patient:P017' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -l method -d 'How consent was given: verbal, written, electronic, …' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -l witness -d 'Who witnessed it, e.g. clinician:C04' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -l date -d 'The date it takes effect (YYYY-MM-DD; default today)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -l expires -d 'The last day a grant is valid (YYYY-MM-DD)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -l note -d 'Free text' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -l at -d 'Show the state on this day instead of today (YYYY-MM-DD)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -l grant -d 'Record a grant (needs --scope and --by)'
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -l withdraw -d 'Record a withdrawal (of --scope, or of everything granted)'
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -l json -d 'Print JSON'
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand consent" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand encrypt" -s r -l recipient -d 'An age (age1…) or SSH (ssh-ed25519, ssh-rsa) public key (repeatable)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand encrypt" -s R -l recipients-file -d 'A file of recipients, one per line, # comments (repeatable)' -r -F
complete -c visitrec -n "__fish_visitrec_using_subcommand encrypt" -l purpose -d 'The use the export is for; every recording\'s consent must cover it' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand encrypt" -l include -d 'What to include: original,normalized,segments,metadata (default: all that exists)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand encrypt" -l out -d 'The export folder to create (must not exist, or be empty)' -r -F
complete -c visitrec -n "__fish_visitrec_using_subcommand encrypt" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand encrypt" -l all -d 'Every recording in the archive'
complete -c visitrec -n "__fish_visitrec_using_subcommand encrypt" -l passphrase -d 'Encrypt with a passphrase instead (VISITREC_PASSPHRASE or a prompt; never argv)'
complete -c visitrec -n "__fish_visitrec_using_subcommand encrypt" -l json -d 'Print the report as JSON'
complete -c visitrec -n "__fish_visitrec_using_subcommand encrypt" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand encrypt" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand encrypt" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand decrypt" -s i -l identity -d 'An age identity file or SSH private key (repeatable)' -r -F
complete -c visitrec -n "__fish_visitrec_using_subcommand decrypt" -l out -d 'The folder to create with the plaintext files' -r -F
complete -c visitrec -n "__fish_visitrec_using_subcommand decrypt" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand decrypt" -l passphrase -d 'The export was made with a passphrase (VISITREC_PASSPHRASE or a prompt)'
complete -c visitrec -n "__fish_visitrec_using_subcommand decrypt" -l json -d 'Print the report as JSON'
complete -c visitrec -n "__fish_visitrec_using_subcommand decrypt" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand decrypt" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand decrypt" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand log" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand log" -l head -d 'Print only the head, SEQ:HASH (the last line\'s number and SHA-256), for `verify --anchor`; refused when the chain is broken'
complete -c visitrec -n "__fish_visitrec_using_subcommand log" -l json -d 'Print a JSON array'
complete -c visitrec -n "__fish_visitrec_using_subcommand log" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand log" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand log" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand list" -l consent -d 'Only recordings whose consent covers this scope' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand list" -l at -d 'Judge consent on this day instead of today (YYYY-MM-DD)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand list" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand list" -l json -d 'Print a JSON array of recordings (each with its consent_state)'
complete -c visitrec -n "__fish_visitrec_using_subcommand list" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand list" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand list" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand show" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand show" -l json -d 'Print the recording\'s JSON metadata'
complete -c visitrec -n "__fish_visitrec_using_subcommand show" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand show" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand show" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand verify" -s i -l identity -d 'For an encrypted export: also decrypt-check every file with this identity file (repeatable)' -r -F
complete -c visitrec -n "__fish_visitrec_using_subcommand verify" -l anchor -d 'Fail (kind anchor) unless audit line SEQ still hashes to HASH, as `visitrec log --head` printed it (repeatable)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand verify" -l anchors -d 'A file of anchors, one SEQ:HASH per line, # comments (repeatable)' -r -F
complete -c visitrec -n "__fish_visitrec_using_subcommand verify" -l allowed-signers -d 'Check the signed checkpoints against these keys (ssh-keygen\'s allowed_signers format); later audit lines are warned about as unsigned history' -r -F
complete -c visitrec -n "__fish_visitrec_using_subcommand verify" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand verify" -l fast -d 'Check presence and Payload-Oxum only; read no content'
complete -c visitrec -n "__fish_visitrec_using_subcommand verify" -l require-consent -d 'Also report recordings with no active consent today (kind no-consent)'
complete -c visitrec -n "__fish_visitrec_using_subcommand verify" -l passphrase -d 'For an export made with a passphrase: decrypt-check with it (VISITREC_PASSPHRASE or a prompt)'
complete -c visitrec -n "__fish_visitrec_using_subcommand verify" -l json -d 'Print the report as JSON'
complete -c visitrec -n "__fish_visitrec_using_subcommand verify" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand verify" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand verify" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand checkpoint" -l key -d 'The OpenSSH ed25519 private key to sign with (unencrypted)' -r -F
complete -c visitrec -n "__fish_visitrec_using_subcommand checkpoint" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand checkpoint" -l json -d 'Print the checkpoint as JSON'
complete -c visitrec -n "__fish_visitrec_using_subcommand checkpoint" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand checkpoint" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand checkpoint" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand demo" -l actor -d 'Who is making the change, for the audit trail (default: $USER)' -r
complete -c visitrec -n "__fish_visitrec_using_subcommand demo" -s q -l quiet -d 'Print only errors'
complete -c visitrec -n "__fish_visitrec_using_subcommand demo" -s v -l verbose -d 'Print more detail (skipped files, every check)'
complete -c visitrec -n "__fish_visitrec_using_subcommand demo" -s h -l help -d 'Print help'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "init" -d 'Create a new, empty archive (a BagIt 1.0 bag)'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "ingest" -d 'Add recordings (files or whole folder trees), deduplicated by content'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "normalize" -d 'Make a loudness-normalized mono WAV of each recording (EBU R128, true peak)'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "segment" -d 'Split each recording into speech segments (voice activity, and marks with --at-marks)'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "tag" -d 'Set or remove tags and time-anchored marks of a recording'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "consent" -d 'Record a consent grant or withdrawal, or show a recording\'s consent'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "encrypt" -d 'Encrypt recordings with age into an export bag for a recipient (consent enforced)'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "decrypt" -d 'Decrypt an export into a plaintext BagIt bag, checking every file end to end'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "log" -d 'Print the audit trail (of one recording with ID)'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "list" -d 'List the recordings, one line each'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "show" -d 'Show one recording in full; a unique id prefix is enough'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "verify" -d 'Check an archive\'s integrity (exit 0 intact, 1 problems, 2 could not run)'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "checkpoint" -d 'Sign the head of the audit log with an SSH key (a checkpoint in checkpoints.jsonl)'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "demo" -d 'Run the whole pipeline on the bundled sample recordings'
complete -c visitrec -n "__fish_visitrec_using_subcommand help; and not __fish_seen_subcommand_from init ingest normalize segment tag consent encrypt decrypt log list show verify checkpoint demo help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
