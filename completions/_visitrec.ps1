
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'visitrec' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'visitrec'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'visitrec' {
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Create a new, empty archive (a BagIt 1.0 bag)')
            [CompletionResult]::new('ingest', 'ingest', [CompletionResultType]::ParameterValue, 'Add recordings (files or whole folder trees), deduplicated by content')
            [CompletionResult]::new('normalize', 'normalize', [CompletionResultType]::ParameterValue, 'Make a loudness-normalized mono WAV of each recording (EBU R128, true peak)')
            [CompletionResult]::new('segment', 'segment', [CompletionResultType]::ParameterValue, 'Split each recording into speech segments (voice activity, and marks with --at-marks)')
            [CompletionResult]::new('tag', 'tag', [CompletionResultType]::ParameterValue, 'Set or remove tags and time-anchored marks of a recording')
            [CompletionResult]::new('consent', 'consent', [CompletionResultType]::ParameterValue, 'Record a consent grant or withdrawal, or show a recording''s consent')
            [CompletionResult]::new('encrypt', 'encrypt', [CompletionResultType]::ParameterValue, 'Encrypt recordings with age into an export bag for a recipient (consent enforced)')
            [CompletionResult]::new('decrypt', 'decrypt', [CompletionResultType]::ParameterValue, 'Decrypt an export into a plaintext BagIt bag, checking every file end to end')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'Print the audit trail (of one recording with ID)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the recordings, one line each')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one recording in full; a unique id prefix is enough')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check an archive''s integrity (exit 0 intact, 1 problems, 2 could not run)')
            [CompletionResult]::new('checkpoint', 'checkpoint', [CompletionResultType]::ParameterValue, 'Sign the head of the audit log with an SSH key (a checkpoint in checkpoints.jsonl)')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Run the whole pipeline on the bundled sample recordings')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'visitrec;init' {
            [CompletionResult]::new('--org', '--org', [CompletionResultType]::ParameterName, 'The organisation responsible for the recordings (bag-info Source-Organization)')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;ingest' {
            [CompletionResult]::new('--participant', '--participant', [CompletionResultType]::ParameterName, 'Participant or patient reference recorded with every recording of the batch')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'A tag key=value applied to every recording of the batch (repeatable)')
            [CompletionResult]::new('--marks', '--marks', [CompletionResultType]::ParameterName, 'Marks for the new recordings: CSV lines `time,label` or JSON `[{"at": "03:12", "label": "…"}]`')
            [CompletionResult]::new('--consent-scope', '--consent-scope', [CompletionResultType]::ParameterName, 'Record consent for these purposes (comma-separated) for every new recording')
            [CompletionResult]::new('--consent-by', '--consent-by', [CompletionResultType]::ParameterName, 'Who consented (with --consent-scope), e.g. patient:P017')
            [CompletionResult]::new('--consent-method', '--consent-method', [CompletionResultType]::ParameterName, 'How consent was given (with --consent-scope)')
            [CompletionResult]::new('--consent-witness', '--consent-witness', [CompletionResultType]::ParameterName, 'Who witnessed it (with --consent-scope)')
            [CompletionResult]::new('--consent-date', '--consent-date', [CompletionResultType]::ParameterName, 'The date consent took effect (YYYY-MM-DD; default today)')
            [CompletionResult]::new('--consent-expires', '--consent-expires', [CompletionResultType]::ParameterName, 'The last day the consent is valid (YYYY-MM-DD)')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Output sample rate, Hz')
            [CompletionResult]::new('--target-lufs', '--target-lufs', [CompletionResultType]::ParameterName, 'Integrated loudness to reach, LUFS')
            [CompletionResult]::new('--true-peak', '--true-peak', [CompletionResultType]::ParameterName, 'True-peak ceiling, dBTP (the gain is lowered to respect it)')
            [CompletionResult]::new('--min-silence', '--min-silence', [CompletionResultType]::ParameterName, 'Pauses shorter than this (seconds) never split a segment')
            [CompletionResult]::new('--min-speech', '--min-speech', [CompletionResultType]::ParameterName, 'Bursts of speech shorter than this (seconds) are dropped')
            [CompletionResult]::new('--pad', '--pad', [CompletionResultType]::ParameterName, 'Seconds of padding added to each side of a segment')
            [CompletionResult]::new('--max-hours', '--max-hours', [CompletionResultType]::ParameterName, 'Refuse recordings longer than this many hours (fractions allowed, at most 1000): checked against the header before decoding, and again while decoding')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('--normalize', '--normalize', [CompletionResultType]::ParameterName, 'Normalize the new recordings (see `visitrec normalize`)')
            [CompletionResult]::new('--segment', '--segment', [CompletionResultType]::ParameterName, 'Segment the new recordings (see `visitrec segment`; normalizes first)')
            [CompletionResult]::new('--at-marks', '--at-marks', [CompletionResultType]::ParameterName, 'Also cut at every time-anchored mark; the segment from a mark on carries its label')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document to stdout instead of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;normalize' {
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Output sample rate, Hz')
            [CompletionResult]::new('--target-lufs', '--target-lufs', [CompletionResultType]::ParameterName, 'Integrated loudness to reach, LUFS')
            [CompletionResult]::new('--true-peak', '--true-peak', [CompletionResultType]::ParameterName, 'True-peak ceiling, dBTP (the gain is lowered to respect it)')
            [CompletionResult]::new('--max-hours', '--max-hours', [CompletionResultType]::ParameterName, 'Refuse recordings longer than this many hours (fractions allowed, at most 1000): checked against the header before decoding, and again while decoding')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every recording in the archive')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;segment' {
            [CompletionResult]::new('--min-silence', '--min-silence', [CompletionResultType]::ParameterName, 'Pauses shorter than this (seconds) never split a segment')
            [CompletionResult]::new('--min-speech', '--min-speech', [CompletionResultType]::ParameterName, 'Bursts of speech shorter than this (seconds) are dropped')
            [CompletionResult]::new('--pad', '--pad', [CompletionResultType]::ParameterName, 'Seconds of padding added to each side of a segment')
            [CompletionResult]::new('--max-hours', '--max-hours', [CompletionResultType]::ParameterName, 'Refuse recordings longer than this many hours (fractions allowed, at most 1000): checked against the header before decoding, and again while decoding')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every recording in the archive')
            [CompletionResult]::new('--at-marks', '--at-marks', [CompletionResultType]::ParameterName, 'Also cut at every time-anchored mark; the segment from a mark on carries its label')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;tag' {
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Set a tag (repeatable). Keys: [a-z0-9][a-z0-9_.-]{0,63}')
            [CompletionResult]::new('--unset', '--unset', [CompletionResultType]::ParameterName, 'Remove a tag (repeatable)')
            [CompletionResult]::new('--mark', '--mark', [CompletionResultType]::ParameterName, 'Add a mark (repeatable). TIME is [[h:]mm:]ss[.fff] or seconds')
            [CompletionResult]::new('--unmark', '--unmark', [CompletionResultType]::ParameterName, 'Remove the mark at TIME (repeatable)')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;consent' {
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'Comma-separated purposes')
            [CompletionResult]::new('--by', '--by', [CompletionResultType]::ParameterName, 'Who consents or withdraws, e.g. patient:P017')
            [CompletionResult]::new('--method', '--method', [CompletionResultType]::ParameterName, 'How consent was given: verbal, written, electronic, …')
            [CompletionResult]::new('--witness', '--witness', [CompletionResultType]::ParameterName, 'Who witnessed it, e.g. clinician:C04')
            [CompletionResult]::new('--date', '--date', [CompletionResultType]::ParameterName, 'The date it takes effect (YYYY-MM-DD; default today)')
            [CompletionResult]::new('--expires', '--expires', [CompletionResultType]::ParameterName, 'The last day a grant is valid (YYYY-MM-DD)')
            [CompletionResult]::new('--note', '--note', [CompletionResultType]::ParameterName, 'Free text')
            [CompletionResult]::new('--at', '--at', [CompletionResultType]::ParameterName, 'Show the state on this day instead of today (YYYY-MM-DD)')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('--grant', '--grant', [CompletionResultType]::ParameterName, 'Record a grant (needs --scope and --by)')
            [CompletionResult]::new('--withdraw', '--withdraw', [CompletionResultType]::ParameterName, 'Record a withdrawal (of --scope, or of everything granted)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;encrypt' {
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'An age (age1…) or SSH (ssh-ed25519, ssh-rsa) public key (repeatable)')
            [CompletionResult]::new('--recipient', '--recipient', [CompletionResultType]::ParameterName, 'An age (age1…) or SSH (ssh-ed25519, ssh-rsa) public key (repeatable)')
            [CompletionResult]::new('-R', '-R ', [CompletionResultType]::ParameterName, 'A file of recipients, one per line, # comments (repeatable)')
            [CompletionResult]::new('--recipients-file', '--recipients-file', [CompletionResultType]::ParameterName, 'A file of recipients, one per line, # comments (repeatable)')
            [CompletionResult]::new('--purpose', '--purpose', [CompletionResultType]::ParameterName, 'The use the export is for; every recording''s consent must cover it')
            [CompletionResult]::new('--include', '--include', [CompletionResultType]::ParameterName, 'What to include: original,normalized,segments,metadata (default: all that exists)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'The export folder to create (must not exist, or be empty)')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every recording in the archive')
            [CompletionResult]::new('--passphrase', '--passphrase', [CompletionResultType]::ParameterName, 'Encrypt with a passphrase instead (VISITREC_PASSPHRASE or a prompt; never argv)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;decrypt' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'An age identity file or SSH private key (repeatable)')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'An age identity file or SSH private key (repeatable)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'The folder to create with the plaintext files')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('--passphrase', '--passphrase', [CompletionResultType]::ParameterName, 'The export was made with a passphrase (VISITREC_PASSPHRASE or a prompt)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;log' {
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('--head', '--head', [CompletionResultType]::ParameterName, 'Print only the head, SEQ:HASH (the last line''s number and SHA-256), for `verify --anchor`; refused when the chain is broken')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON array')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;list' {
            [CompletionResult]::new('--consent', '--consent', [CompletionResultType]::ParameterName, 'Only recordings whose consent covers this scope')
            [CompletionResult]::new('--at', '--at', [CompletionResultType]::ParameterName, 'Judge consent on this day instead of today (YYYY-MM-DD)')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON array of recordings (each with its consent_state)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;show' {
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the recording''s JSON metadata')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;verify' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'For an encrypted export: also decrypt-check every file with this identity file (repeatable)')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'For an encrypted export: also decrypt-check every file with this identity file (repeatable)')
            [CompletionResult]::new('--anchor', '--anchor', [CompletionResultType]::ParameterName, 'Fail (kind anchor) unless audit line SEQ still hashes to HASH, as `visitrec log --head` printed it (repeatable)')
            [CompletionResult]::new('--anchors', '--anchors', [CompletionResultType]::ParameterName, 'A file of anchors, one SEQ:HASH per line, # comments (repeatable)')
            [CompletionResult]::new('--allowed-signers', '--allowed-signers', [CompletionResultType]::ParameterName, 'Check the signed checkpoints against these keys (ssh-keygen''s allowed_signers format); later audit lines are warned about as unsigned history')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('--fast', '--fast', [CompletionResultType]::ParameterName, 'Check presence and Payload-Oxum only; read no content')
            [CompletionResult]::new('--require-consent', '--require-consent', [CompletionResultType]::ParameterName, 'Also report recordings with no active consent today (kind no-consent)')
            [CompletionResult]::new('--passphrase', '--passphrase', [CompletionResultType]::ParameterName, 'For an export made with a passphrase: decrypt-check with it (VISITREC_PASSPHRASE or a prompt)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;checkpoint' {
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The OpenSSH ed25519 private key to sign with (unencrypted)')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the checkpoint as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;demo' {
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who is making the change, for the audit trail (default: $USER)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (skipped files, every check)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'visitrec;help' {
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Create a new, empty archive (a BagIt 1.0 bag)')
            [CompletionResult]::new('ingest', 'ingest', [CompletionResultType]::ParameterValue, 'Add recordings (files or whole folder trees), deduplicated by content')
            [CompletionResult]::new('normalize', 'normalize', [CompletionResultType]::ParameterValue, 'Make a loudness-normalized mono WAV of each recording (EBU R128, true peak)')
            [CompletionResult]::new('segment', 'segment', [CompletionResultType]::ParameterValue, 'Split each recording into speech segments (voice activity, and marks with --at-marks)')
            [CompletionResult]::new('tag', 'tag', [CompletionResultType]::ParameterValue, 'Set or remove tags and time-anchored marks of a recording')
            [CompletionResult]::new('consent', 'consent', [CompletionResultType]::ParameterValue, 'Record a consent grant or withdrawal, or show a recording''s consent')
            [CompletionResult]::new('encrypt', 'encrypt', [CompletionResultType]::ParameterValue, 'Encrypt recordings with age into an export bag for a recipient (consent enforced)')
            [CompletionResult]::new('decrypt', 'decrypt', [CompletionResultType]::ParameterValue, 'Decrypt an export into a plaintext BagIt bag, checking every file end to end')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'Print the audit trail (of one recording with ID)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the recordings, one line each')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one recording in full; a unique id prefix is enough')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check an archive''s integrity (exit 0 intact, 1 problems, 2 could not run)')
            [CompletionResult]::new('checkpoint', 'checkpoint', [CompletionResultType]::ParameterValue, 'Sign the head of the audit log with an SSH key (a checkpoint in checkpoints.jsonl)')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Run the whole pipeline on the bundled sample recordings')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'visitrec;help;init' {
            break
        }
        'visitrec;help;ingest' {
            break
        }
        'visitrec;help;normalize' {
            break
        }
        'visitrec;help;segment' {
            break
        }
        'visitrec;help;tag' {
            break
        }
        'visitrec;help;consent' {
            break
        }
        'visitrec;help;encrypt' {
            break
        }
        'visitrec;help;decrypt' {
            break
        }
        'visitrec;help;log' {
            break
        }
        'visitrec;help;list' {
            break
        }
        'visitrec;help;show' {
            break
        }
        'visitrec;help;verify' {
            break
        }
        'visitrec;help;checkpoint' {
            break
        }
        'visitrec;help;demo' {
            break
        }
        'visitrec;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
