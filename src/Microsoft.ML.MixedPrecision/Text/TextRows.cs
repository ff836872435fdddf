using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Text;
using Microsoft.ML.MixedPrecision.Training;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>Texts and 0-based labels read from an IDataView.</summary>
    internal sealed class TextRows : IExampleSet<TextRows>
    {
        public List<string> First { get; } = new List<string>();
        public List<string> Second { get; } = new List<string>();
        public List<long> LabelList { get; } = new List<long>();
        public long[] Labels => LabelList.ToArray();
        public int Count => LabelList.Count;

        public TextRows Subset(int[] indices)
        {
            var subset = new TextRows();
            foreach (int i in indices)
            {
                subset.First.Add(First[i]);
                if (Second.Count > 0)
                    subset.Second.Add(Second[i]);
                subset.LabelList.Add(LabelList[i]);
            }
            return subset;
        }

        public void HashFeatures(IncrementalHash hash)
        {
            foreach (var column in new[] { First, Second })
            {
                hash.AppendData(BitConverter.GetBytes(column.Count));
                foreach (string text in column)
                {
                    // Length-prefixed, so ["ab", "c"] and ["a", "bc"] differ; null (missing) apart from "".
                    hash.AppendData(BitConverter.GetBytes(text?.Length ?? -1));
                    hash.AppendData(Encoding.UTF8.GetBytes(text ?? ""));
                }
            }
        }
    }

}
