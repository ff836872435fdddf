using System;

namespace Microsoft.ML.MixedPrecision.Native
{
    internal static class Exceptions
    {
        /// <summary>The innermost exception: the one whose message says what really went wrong.</summary>
        public static Exception Innermost(this Exception e)
        {
            while (e.InnerException != null)
                e = e.InnerException;
            return e;
        }
    }
}
