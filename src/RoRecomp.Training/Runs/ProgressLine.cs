namespace RoRecomp.Training.Runs;

/// <summary>
/// A live progress display: on a terminal (<c>interactive</c>) each update overwrites one line in place (<c>\r</c>,
/// padded to <c>width</c> so that a shorter update leaves nothing of the longer one behind); when the output is
/// redirected (a log file, a test) each shown update is a line of its own.
/// </summary>
/// <param name="output">Where the display goes.</param>
/// <param name="interactive">Overwrite one line in place (a terminal) rather than print line by line.</param>
/// <param name="width">Columns an interactive update is padded to.</param>
public sealed class ProgressLine(TextWriter output, bool interactive, int width)
{
    private bool _open;

    /// <summary>
    /// Shows <paramref name="text"/>. Interactive: overwrites the live line, and ends it when <paramref name="keep"/>
    /// (the update stays on screen, e.g. one with an evaluation). Redirected: prints it as a line when
    /// <paramref name="keep"/> or <paramref name="plain"/> (false thins out a frequent display), else nothing.
    /// </summary>
    public void Show(string text, bool keep = false, bool plain = true)
    {
        if (interactive)
        {
            output.Write("\r" + text.PadRight(width));
            _open = !keep;
            if (keep) output.WriteLine();
        }
        else if (keep || plain)
        {
            output.WriteLine(text);
        }
    }

    /// <summary>Prints <paramref name="message"/> as a line of its own, below the live line (which stays on screen).</summary>
    public void Message(string message)
    {
        End();
        output.WriteLine(message);
    }

    /// <summary>Ends the live line, so that what is printed next starts on a line of its own; nothing when none is open.</summary>
    public void End()
    {
        if (!_open) return;
        output.WriteLine();
        _open = false;
    }
}
