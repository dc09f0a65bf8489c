# Homebrew formula for pail. Not in a tap yet: install it from a checkout with
#   brew install --build-from-source ./packaging/homebrew/pail.rb
# or put it in your own tap (and fill in the url and sha256 of a release tarball).
#
# The daemon runs as the launchd agent that `pail service install` writes
# (packaging/launchd/com.pail.daemon.plist, with your config's path in it), the same on every
# platform; hence no `service do` block here.
class Pail < Formula
  desc "Keep a folder and your own S3 bucket in sync, both ways"
  homepage "https://example.invalid/pail"
  url "https://example.invalid/pail/archive/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license "Apache-2.0"
  head "https://example.invalid/pail.git", branch: "main"

  depends_on "rust" => :build

  def install
    # The release profile of Cargo.toml: stripped, LTO. A tarball build names its commit
    # "unknown" in `pail --version`; a `--HEAD` build names it.
    system "cargo", "install", *std_cargo_args(path: "crates/pail")
    generate_completions_from_executable(bin/"pail", "completions", shells: [:bash, :zsh, :fish])
    system bin/"pail", "man", buildpath/"man1"
    man1.install Dir[buildpath/"man1/*.1"]
  end

  def caveats
    <<~EOS
      Pair a folder with a bucket, then run the daemon at login as a launchd agent:
        pail init ~/Pail s3://BUCKET/PREFIX --region REGION
        pail service install
      The agent does not see your shell's environment: it reads ~/.aws/credentials
      (or a profile named with `pail init --profile`). Its log: ~/Library/Logs/pail.log
    EOS
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/pail --version")
    assert_match "Usage: pail", shell_output("#{bin}/pail --help")
    assert_match "#compdef pail", shell_output("#{bin}/pail completions zsh")
  end
end
