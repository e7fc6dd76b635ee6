
use builtin;
use str;

set edit:completion:arg-completer[visitrec] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'visitrec'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'visitrec'= {
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand init 'Create a new, empty archive (a BagIt 1.0 bag)'
            cand ingest 'Add recordings (files or whole folder trees), deduplicated by content'
            cand normalize 'Make a loudness-normalized mono WAV of each recording (EBU R128, true peak)'
            cand segment 'Split each recording into speech segments (voice activity, and marks with --at-marks)'
            cand tag 'Set or remove tags and time-anchored marks of a recording'
            cand consent 'Record a consent grant or withdrawal, or show a recording''s consent'
            cand encrypt 'Encrypt recordings with age into an export bag for a recipient (consent enforced)'
            cand decrypt 'Decrypt an export into a plaintext BagIt bag, checking every file end to end'
            cand log 'Print the audit trail (of one recording with ID)'
            cand list 'List the recordings, one line each'
            cand show 'Show one recording in full; a unique id prefix is enough'
            cand verify 'Check an archive''s integrity (exit 0 intact, 1 problems, 2 could not run)'
            cand checkpoint 'Sign the head of the audit log with an SSH key (a checkpoint in checkpoints.jsonl)'
            cand demo 'Run the whole pipeline on the bundled sample recordings'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'visitrec;init'= {
            cand --org 'The organisation responsible for the recordings (bag-info Source-Organization)'
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;ingest'= {
            cand --participant 'Participant or patient reference recorded with every recording of the batch'
            cand --tag 'A tag key=value applied to every recording of the batch (repeatable)'
            cand --marks 'Marks for the new recordings: CSV lines `time,label` or JSON `[{"at": "03:12", "label": "…"}]`'
            cand --consent-scope 'Record consent for these purposes (comma-separated) for every new recording'
            cand --consent-by 'Who consented (with --consent-scope), e.g. patient:P017'
            cand --consent-method 'How consent was given (with --consent-scope)'
            cand --consent-witness 'Who witnessed it (with --consent-scope)'
            cand --consent-date 'The date consent took effect (YYYY-MM-DD; default today)'
            cand --consent-expires 'The last day the consent is valid (YYYY-MM-DD)'
            cand --rate 'Output sample rate, Hz'
            cand --target-lufs 'Integrated loudness to reach, LUFS'
            cand --true-peak 'True-peak ceiling, dBTP (the gain is lowered to respect it)'
            cand --min-silence 'Pauses shorter than this (seconds) never split a segment'
            cand --min-speech 'Bursts of speech shorter than this (seconds) are dropped'
            cand --pad 'Seconds of padding added to each side of a segment'
            cand --max-hours 'Refuse recordings longer than this many hours (fractions allowed, at most 1000): checked against the header before decoding, and again while decoding'
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand --normalize 'Normalize the new recordings (see `visitrec normalize`)'
            cand --segment 'Segment the new recordings (see `visitrec segment`; normalizes first)'
            cand --at-marks 'Also cut at every time-anchored mark; the segment from a mark on carries its label'
            cand --json 'Print one JSON document to stdout instead of text'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;normalize'= {
            cand --rate 'Output sample rate, Hz'
            cand --target-lufs 'Integrated loudness to reach, LUFS'
            cand --true-peak 'True-peak ceiling, dBTP (the gain is lowered to respect it)'
            cand --max-hours 'Refuse recordings longer than this many hours (fractions allowed, at most 1000): checked against the header before decoding, and again while decoding'
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand --all 'Every recording in the archive'
            cand --json 'Print the report as JSON'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;segment'= {
            cand --min-silence 'Pauses shorter than this (seconds) never split a segment'
            cand --min-speech 'Bursts of speech shorter than this (seconds) are dropped'
            cand --pad 'Seconds of padding added to each side of a segment'
            cand --max-hours 'Refuse recordings longer than this many hours (fractions allowed, at most 1000): checked against the header before decoding, and again while decoding'
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand --all 'Every recording in the archive'
            cand --at-marks 'Also cut at every time-anchored mark; the segment from a mark on carries its label'
            cand --json 'Print the report as JSON'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;tag'= {
            cand --set 'Set a tag (repeatable). Keys: [a-z0-9][a-z0-9_.-]{0,63}'
            cand --unset 'Remove a tag (repeatable)'
            cand --mark 'Add a mark (repeatable). TIME is [[h:]mm:]ss[.fff] or seconds'
            cand --unmark 'Remove the mark at TIME (repeatable)'
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand --json 'Print the result as JSON'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;consent'= {
            cand --scope 'Comma-separated purposes'
            cand --by 'Who consents or withdraws, e.g. patient:P017'
            cand --method 'How consent was given: verbal, written, electronic, …'
            cand --witness 'Who witnessed it, e.g. clinician:C04'
            cand --date 'The date it takes effect (YYYY-MM-DD; default today)'
            cand --expires 'The last day a grant is valid (YYYY-MM-DD)'
            cand --note 'Free text'
            cand --at 'Show the state on this day instead of today (YYYY-MM-DD)'
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand --grant 'Record a grant (needs --scope and --by)'
            cand --withdraw 'Record a withdrawal (of --scope, or of everything granted)'
            cand --json 'Print JSON'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;encrypt'= {
            cand -r 'An age (age1…) or SSH (ssh-ed25519, ssh-rsa) public key (repeatable)'
            cand --recipient 'An age (age1…) or SSH (ssh-ed25519, ssh-rsa) public key (repeatable)'
            cand -R 'A file of recipients, one per line, # comments (repeatable)'
            cand --recipients-file 'A file of recipients, one per line, # comments (repeatable)'
            cand --purpose 'The use the export is for; every recording''s consent must cover it'
            cand --include 'What to include: original,normalized,segments,metadata (default: all that exists)'
            cand --out 'The export folder to create (must not exist, or be empty)'
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand --all 'Every recording in the archive'
            cand --passphrase 'Encrypt with a passphrase instead (VISITREC_PASSPHRASE or a prompt; never argv)'
            cand --json 'Print the report as JSON'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;decrypt'= {
            cand -i 'An age identity file or SSH private key (repeatable)'
            cand --identity 'An age identity file or SSH private key (repeatable)'
            cand --out 'The folder to create with the plaintext files'
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand --passphrase 'The export was made with a passphrase (VISITREC_PASSPHRASE or a prompt)'
            cand --json 'Print the report as JSON'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;log'= {
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand --head 'Print only the head, SEQ:HASH (the last line''s number and SHA-256), for `verify --anchor`; refused when the chain is broken'
            cand --json 'Print a JSON array'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;list'= {
            cand --consent 'Only recordings whose consent covers this scope'
            cand --at 'Judge consent on this day instead of today (YYYY-MM-DD)'
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand --json 'Print a JSON array of recordings (each with its consent_state)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;show'= {
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand --json 'Print the recording''s JSON metadata'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;verify'= {
            cand -i 'For an encrypted export: also decrypt-check every file with this identity file (repeatable)'
            cand --identity 'For an encrypted export: also decrypt-check every file with this identity file (repeatable)'
            cand --anchor 'Fail (kind anchor) unless audit line SEQ still hashes to HASH, as `visitrec log --head` printed it (repeatable)'
            cand --anchors 'A file of anchors, one SEQ:HASH per line, # comments (repeatable)'
            cand --allowed-signers 'Check the signed checkpoints against these keys (ssh-keygen''s allowed_signers format); later audit lines are warned about as unsigned history'
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand --fast 'Check presence and Payload-Oxum only; read no content'
            cand --require-consent 'Also report recordings with no active consent today (kind no-consent)'
            cand --passphrase 'For an export made with a passphrase: decrypt-check with it (VISITREC_PASSPHRASE or a prompt)'
            cand --json 'Print the report as JSON'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;checkpoint'= {
            cand --key 'The OpenSSH ed25519 private key to sign with (unencrypted)'
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand --json 'Print the checkpoint as JSON'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;demo'= {
            cand --actor 'Who is making the change, for the audit trail (default: $USER)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (skipped files, every check)'
            cand --verbose 'Print more detail (skipped files, every check)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'visitrec;help'= {
            cand init 'Create a new, empty archive (a BagIt 1.0 bag)'
            cand ingest 'Add recordings (files or whole folder trees), deduplicated by content'
            cand normalize 'Make a loudness-normalized mono WAV of each recording (EBU R128, true peak)'
            cand segment 'Split each recording into speech segments (voice activity, and marks with --at-marks)'
            cand tag 'Set or remove tags and time-anchored marks of a recording'
            cand consent 'Record a consent grant or withdrawal, or show a recording''s consent'
            cand encrypt 'Encrypt recordings with age into an export bag for a recipient (consent enforced)'
            cand decrypt 'Decrypt an export into a plaintext BagIt bag, checking every file end to end'
            cand log 'Print the audit trail (of one recording with ID)'
            cand list 'List the recordings, one line each'
            cand show 'Show one recording in full; a unique id prefix is enough'
            cand verify 'Check an archive''s integrity (exit 0 intact, 1 problems, 2 could not run)'
            cand checkpoint 'Sign the head of the audit log with an SSH key (a checkpoint in checkpoints.jsonl)'
            cand demo 'Run the whole pipeline on the bundled sample recordings'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'visitrec;help;init'= {
        }
        &'visitrec;help;ingest'= {
        }
        &'visitrec;help;normalize'= {
        }
        &'visitrec;help;segment'= {
        }
        &'visitrec;help;tag'= {
        }
        &'visitrec;help;consent'= {
        }
        &'visitrec;help;encrypt'= {
        }
        &'visitrec;help;decrypt'= {
        }
        &'visitrec;help;log'= {
        }
        &'visitrec;help;list'= {
        }
        &'visitrec;help;show'= {
        }
        &'visitrec;help;verify'= {
        }
        &'visitrec;help;checkpoint'= {
        }
        &'visitrec;help;demo'= {
        }
        &'visitrec;help;help'= {
        }
    ]
    $completions[$command]
}
