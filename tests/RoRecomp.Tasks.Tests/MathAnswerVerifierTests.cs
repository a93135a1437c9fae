using System.Text;
using RoRecomp.Tasks.Answers;

namespace RoRecomp.Tasks.Tests;

public sealed class MathAnswerVerifierTests
{
    private readonly MathAnswerVerifier _v = new();

    [Theory]
    [InlineData("so the total is \\boxed{42}.", "42")]
    [InlineData("\\boxed{\\frac{1}{2}} and later \\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}")]
    [InlineData("\\boxed {x^{2}}", "x^{2}")]
    [InlineData("$\\boxed 5$", "5")]
    [InlineData("<think>hmm</think><answer> 17 </answer>", "17")]
    [InlineData("Natalia sold 48+24 = 72 clips.\n#### 72", "72")]
    [InlineData("We get 3 apples. The answer is: 3.", "3")]
    [InlineData("So the final answer is 1,000 dollars.\nDone", "1,000 dollars")]
    [InlineData("\\fbox{7}", "7")]
    public void Extracts_the_final_answer(string text, string expected) =>
        Assert.Equal(expected, MathAnswerVerifier.ExtractAnswer(text));

    [Theory]
    [InlineData("")]
    [InlineData("no answer here")]
    [InlineData("\\boxed{unbalanced")]
    [InlineData("the answer is")]
    public void Returns_null_when_there_is_no_answer(string text) => Assert.Null(MathAnswerVerifier.ExtractAnswer(text));

    [Theory]
    [InlineData("42", "42")]
    [InlineData("42.0", "42")]
    [InlineData("042", "42")]
    [InlineData("-3", "-3")]
    [InlineData("- 3", "-3")]
    [InlineData("0.5", "\\frac{1}{2}")]
    [InlineData("\\frac12", "0.5")]
    [InlineData("\\dfrac{3}{4}", "0.75")]
    [InlineData("\\tfrac{6}{8}", "3/4")]
    [InlineData("-\\frac{1}{2}", "\\frac{-1}{2}")]
    [InlineData("\\left(\\frac{1}{2}\\right)", "1/2")]
    [InlineData("1,000", "1000")]
    [InlineData("1{,}234{,}567", "1234567")]
    [InlineData("1,234.5", "1234.5")]
    [InlineData("50\\%", "50")]
    [InlineData("50%", "50")]
    [InlineData("\\$18", "18")]
    [InlineData("18 dollars", "18")]
    [InlineData("12\\text{ cm}", "12")]
    [InlineData("\\text{5}", "5")]
    [InlineData("x = 5", "5")]
    [InlineData("\\sqrt{16}", "4")]
    [InlineData("\\sqrt{\\frac{9}{4}}", "1.5")]
    [InlineData("2\\sqrt{3}", "\\sqrt{12}")]
    [InlineData("\\frac{\\sqrt{3}}{2}", "0.8660254")]
    [InlineData("2\\pi", "6.283185")]
    [InlineData("3\\cdot 4", "12")]
    [InlineData("2^{10}", "1024")]
    [InlineData("10^{-2}", "0.01")]
    [InlineData("90^\\circ", "90")]
    [InlineData("0.3333333", "\\frac{1}{3}")]
    [InlineData("\\displaystyle\\frac{22}{7}", "22/7")]
    [InlineData("(1,2)", "(1, 2)")]
    [InlineData("\\text{(A)}", "\\text{(A)}")]
    [InlineData("123456789012345678901234567890", "123456789012345678901234567890.0")]
    [InlineData("1e5", "100000")]
    [InlineData("1.5e-3", "\\frac{3}{2000}")]
    public void Equivalent_pairs(string a, string b)
    {
        Assert.True(_v.Equivalent(a, b), $"{a} vs {b}: {MathAnswerVerifier.Normalize(a)} / {MathAnswerVerifier.Normalize(b)}");
        Assert.True(_v.Equivalent(b, a), $"{b} vs {a} (symmetry)");
    }

    [Theory]
    [InlineData("42", "43")]
    [InlineData("-3", "3")]
    [InlineData("0.5", "\\frac{1}{3}")]
    [InlineData("0.333", "\\frac{1}{3}")]
    [InlineData("\\frac{1}{2}", "\\frac{2}{1}")]
    [InlineData("1,2", "12")]
    [InlineData("12,34", "1234")]
    [InlineData("2\\sqrt{3}", "\\sqrt{3}")]
    [InlineData("3.14", "\\pi")]
    [InlineData("2x", "2y")]
    [InlineData("(1,2)", "(2,1)")]
    [InlineData("", "0")]
    [InlineData("5", "")]
    [InlineData("123456789012345678901234567890", "123456789012345678901234567891")]
    [InlineData("2e", "2")]
    [InlineData("3,5", "35")]
    [InlineData("1, 5", "1.5")]
    [InlineData("1,000", "1")]
    [InlineData("12\\text{ cm}^2", "144")]
    [InlineData("\\frac{1}{0}", "\\frac{1}{0}0")]
    public void Non_equivalent_pairs(string a, string b)
    {
        Assert.False(_v.Equivalent(a, b), $"{a} vs {b}");
        Assert.False(_v.Equivalent(b, a), $"{b} vs {a}");
    }

    [Theory]
    [InlineData("\\boxed{10 20}", "1020")]
    [InlineData("\\boxed{3 and 4}", "34")]
    [InlineData("\\boxed{3 \\text{ and } 4}", "34")]
    [InlineData("\\boxed{10\\ 20}", "1020")]
    [InlineData("\\boxed{10\\quad 20}", "1020")]
    [InlineData("\\boxed{10~20}", "1020")]
    [InlineData("\\boxed{10\\,20}", "1020")]
    [InlineData("\\boxed{10{,}20}", "1020")]
    [InlineData("\\boxed{1 000}", "1000")]
    [InlineData("\\boxed{1 .5}", "1.5")]
    [InlineData("\\boxed{0,250}", "250")]
    [InlineData("#### 10 20", "1020")]
    [InlineData("\\boxed{10, 20}", "1020")]
    [InlineData("\\boxed{10, 20}", "10.2")]
    [InlineData("The answer is 10 or 20.", "1020")]
    public void Answers_joined_by_removing_spaces_or_separators_are_not_one_number(string response, string reference)
    {
        Assert.False(_v.Verify(response, reference).Correct, MathAnswerVerifier.Normalize(MathAnswerVerifier.ExtractAnswer(response)));
    }

    [Theory]
    [InlineData("10,\\!000", "10000")]
    [InlineData("1\\,000", "1000")]
    [InlineData("1\\,234\\,567.5", "1234567.5")]
    [InlineData("- 3", "-3")]
    [InlineData("2 \\sqrt{3}", "\\sqrt{12}")]
    [InlineData("3 x", "3x")]
    [InlineData("1.5 \\times 10^{3}", "1500")]
    public void Spaces_that_join_nothing_are_still_removed(string a, string b) => Assert.True(_v.Equivalent(a, b), MathAnswerVerifier.Normalize(a));

    [Theory]
    [InlineData("So she has 5 apples.", "5")]
    [InlineData("The total cost is $1,234.50 in the end.", "1,234.50")]
    [InlineData("It costs $5 and $10.", "10")]
    [InlineData("Therefore \\(x = \\frac{1}{2}\\).", "x = \\frac{1}{2}")]
    [InlineData("We get \\[ \\frac{3}{4} \\]", "\\frac{3}{4}")]
    [InlineData("The probability is $\\frac{1}{6}$.", "\\frac{1}{6}")]
    [InlineData("First $$x^2 = 4$$ and so x = -3.", "-3")]
    [InlineData("We get $x^2 = 4$, so x is 2.", "2")]
    [InlineData("About 1.5e3 meters.", "1.5e3")]
    [InlineData("Only 3/4 of them, from 3-4 hours", "4")]
    [InlineData("3/4 of them", "3/4")]
    [InlineData("A price of \\$5 \\(\\frac{1}{2}\\) off", "\\frac{1}{2}")]
    public void Without_a_box_the_last_number_or_math_environment_is_the_answer(string text, string expected) =>
        Assert.Equal(expected, MathAnswerVerifier.ExtractAnswer(text));

    [Theory]
    [InlineData("So she has 5 apples.", "5")]
    [InlineData("Therefore \\(x = \\frac{1}{2}\\).", "0.5")]
    [InlineData("The answer is \\[\\dfrac{3}{4}\\]", "0.75")]
    [InlineData("\\boxed{\\cfrac{1}{2}}", "1/2")]
    [InlineData("\\boxed{\\cfrac{1}{1+\\cfrac{1}{2}}}", "2/3")]
    [InlineData("\\boxed{3,5}", "3.5")]
    [InlineData("\\boxed{0,25}", "1/4")]
    [InlineData("\\boxed{0,250}", "0.25")]
    [InlineData("\\boxed{3{,}5}", "3.5")]
    [InlineData("\\boxed{1,000}", "1000")]
    [InlineData("The answer is 3,5 cm.", "3.5")]
    [InlineData("\\boxed{5 cm}", "5")]
    [InlineData("\\boxed{\\$5}", "5")]
    [InlineData("The answer is $5.", "5")]
    [InlineData("It costs $5.", "5")]
    [InlineData("\\boxed{5 dollars}", "5")]
    [InlineData("\\boxed{5\\%}", "5")]
    [InlineData("\\boxed{€5}", "5")]
    [InlineData("\\boxed{12\\text{ cm}^2}", "12")]
    [InlineData("\\boxed{12 \\mbox{m}^{3}}", "12")]
    [InlineData("\\boxed{12 cm^2}", "12")]
    [InlineData("\\boxed{1.5e3}", "1500")]
    [InlineData("\\boxed{2E-4}", "0.0002")]
    [InlineData("\\boxed{1.5 \\times 10^3}", "1500")]
    [InlineData("\\boxed{1.5 × 10^{3}}", "1.5e3")]
    [InlineData("\\boxed{−2}", "-2")]
    [InlineData("Natalia sold 72 clips.\n#### 72", "72")]
    public void Math_verify_style_answers_are_accepted(string response, string reference) =>
        Assert.True(_v.Verify(response, reference).Correct, $"{MathAnswerVerifier.ExtractAnswer(response)} -> {MathAnswerVerifier.Normalize(MathAnswerVerifier.ExtractAnswer(response))}");

    [Fact]
    public void Normalize_of_null_or_blank_is_empty_and_does_not_throw()
    {
        Assert.Equal("", MathAnswerVerifier.Normalize(null));
        Assert.Equal("", MathAnswerVerifier.Normalize(" \t\n"));
    }

    [Fact]
    public void Square_roots_of_numbers_beyond_the_double_range_stay_exact()
    {
        Assert.True(_v.Equivalent("\\sqrt{10^{400}}", "10^{200}"));
        Assert.False(_v.Equivalent("\\sqrt{10^{400}}", "10^{200}+1"));
    }

    [Fact]
    public void Verify_scores_responses_and_reports_the_answer()
    {
        var ok = _v.Verify("Let me think... so \\boxed{\\dfrac{3}{6}}", "0.5");
        Assert.True(ok.Correct);
        Assert.Equal(1, ok.Reward);
        Assert.Equal("\\dfrac{3}{6}", ok.Answer);
        var none = _v.Verify("I do not know", "0.5");
        Assert.False(none.Correct);
        Assert.False(none.FormatValid);
        Assert.Null(none.Answer);
        Assert.False(_v.Verify(null, "1").Correct);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(100_000)]
    public void Adversarial_nesting_and_sizes_do_not_throw_or_overflow_the_stack(int n)
    {
        var deep = "\\boxed{" + new string('{', n) + "1" + new string('}', n) + "}";
        Assert.True(_v.Verify(deep, "1").Reward is 0 or 1);
        var parens = new string('(', n) + "1" + new string(')', n);
        Assert.False(_v.Equivalent(parens, "2"));
        var fracs = string.Concat(Enumerable.Repeat("\\frac{1}{", n / 10)) + "2" + new string('}', n / 10);
        Assert.False(_v.Equivalent(fracs, "-1"));
        var huge = new string('9', n);
        Assert.Equal(n <= MathAnswerVerifier.MaxAnswerChars, _v.Equivalent(huge, huge + ".0"));
        Assert.False(_v.Equivalent("10^{100000}", "10^{100001}"));
        Assert.False(_v.Equivalent("2^{2^{2^{2^{2^{2}}}}}", "1"));
        Assert.False(_v.Equivalent(string.Concat(Enumerable.Repeat("\\boxed{", n)), "1"));
    }

    [Theory]
    [InlineData("\\boxed{")]
    [InlineData("\\boxed{}")]
    [InlineData("}}}{{{")]
    [InlineData("\\boxed{\\frac{1}{}}")]
    [InlineData("\\boxed{\\sqrt{-4}}")]
    [InlineData("<answer></answer>")]
    [InlineData("\\boxed{٤٢}")]
    [InlineData("\\boxed{４２}")]
    [InlineData("\\boxed{😀}")]
    [InlineData("\\boxed{\0}")]
    [InlineData("####")]
    [InlineData("\\boxed{0/0}")]
    public void Odd_output_gets_a_defined_verdict(string text)
    {
        var verdict = _v.Verify(text, "42");
        Assert.False(verdict.Correct);
        Assert.Equal(0, verdict.Reward);
    }

    [Fact]
    public void Fuzzed_random_strings_never_throw()
    {
        var rng = new Random(1234);
        const string pieces = "0123456789+-*/^.,{}()[]\\ $%abcxyzé😀\n";
        string[] macros = ["\\boxed{", "\\frac", "\\dfrac", "\\sqrt", "\\pi", "\\left(", "\\right)", "\\text{", "<answer>", "</answer>", "####", "answer is", "\\cdot", "^{", "\\!", "{,}"];
        int correct = 0;
        for (int i = 0; i < 5000; i++)
        {
            var sb = new StringBuilder();
            int len = rng.Next(0, 60);
            for (int j = 0; j < len; j++)
            {
                if (rng.Next(4) == 0) sb.Append(macros[rng.Next(macros.Length)]);
                else sb.Append(pieces[rng.Next(pieces.Length)]);
            }
            var text = sb.ToString();
            var verdict = _v.Verify(text, "1");
            if (verdict.Correct) correct++;
            _ = _v.Equivalent(text, text[..(text.Length / 2)]);
            _ = MathAnswerVerifier.Normalize(text);
        }
        Assert.True(correct < 500, $"{correct} random strings judged equal to 1");
    }
}
