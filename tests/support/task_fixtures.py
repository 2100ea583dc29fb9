"""Project-written fixture files in each pinned source's real layout, with what the loader must make of them.

Each entry: the raw file as the source serves it (two or three records, our own text), and for
its first record the exact question text the task shows the model, the gold answer and format.
"""

import json

FIXTURES = {
    "gsm8k": {
        "raw": "".join(
            json.dumps(r) + "\n"
            for r in [
                {
                    "question": "Lena packs 4 boxes with 6 jars each. How many jars? ",
                    "answer": "4 boxes of 6 jars are 4 * 6 = <<4*6=24>>24 jars.\n#### 24",
                },
                {
                    "question": "A rope of 1,500 cm is cut in half. How long is each part?",
                    "answer": "1500 / 2 = <<1500/2=750>>750\n#### 750",
                },
            ]
        ),
        "question": "Lena packs 4 boxes with 6 jars each. How many jars?",
        "answer": "24",
        "format": "number",
    },
    "svamp": {
        "raw": json.dumps(
            [
                {
                    "ID": "chal-1",
                    "Body": "Omar had 9 stamps and gave 4 to his brother .",
                    "Question": "How many stamps does Omar have now ?",
                    "Equation": "( 9.0 - 4.0 )",
                    "Answer": 5.0,
                    "Type": "Subtraction",
                },
                {
                    "ID": "chal-2",
                    "Body": "A tank holds 7.5 liters .",
                    "Question": "How much do 2 tanks hold ?",
                    "Equation": "( 7.5 * 2.0 )",
                    "Answer": 15.0,
                    "Type": "Multiplication",
                },
            ],
            indent=4,
        ),
        "question": "Omar had 9 stamps and gave 4 to his brother . How many stamps does Omar have now ?",
        "answer": "5",
        "format": "number",
    },
    "multiarith": {
        "raw": json.dumps(
            [
                {
                    "iIndex": 0,
                    "lAlignments": [4, 30],
                    "lEquations": ["X=((3.0*4.0)+2.0)"],
                    "lSolutions": [14.0],
                    "sQuestion": " Rita bought 3 bags of 4 plums and 2 more plums. How many plums did she buy? ",
                },
                {
                    "iIndex": 1,
                    "lAlignments": [5],
                    "lEquations": ["X=(10.0/4.0)"],
                    "lSolutions": [2.5],
                    "sQuestion": "Ten cakes are shared by 4 friends. How many cakes does each get?",
                },
            ]
        ),
        "question": "Rita bought 3 bags of 4 plums and 2 more plums. How many plums did she buy?",
        "answer": "14",
        "format": "number",
    },
    "addsub": {
        "raw": json.dumps(
            [
                {
                    "iIndex": 1,
                    "lEquations": ["X = 12 + 9"],
                    "lSolutions": ["21"],
                    "sQuestion": "Sam found 12 shells . He found 9 more . How many shells did Sam find ? ",
                },
            ]
        ),
        "question": "Sam found 12 shells . He found 9 more . How many shells did Sam find ?",
        "answer": "21",
        "format": "number",
    },
    "singleeq": {
        "raw": json.dumps(
            [
                {
                    "lEquations": ["x+8=15"],
                    "lSolutions": [7.0],
                    "grammarCheck": 0,
                    "templateNumber": 0,
                    "sQuestion": "Ivy has some pens. After buying 8 more she has 15. How many did she have?",
                    "iIndex": 0,
                },
            ]
        ),
        "question": "Ivy has some pens. After buying 8 more she has 15. How many did she have?",
        "answer": "7",
        "format": "number",
    },
    "aqua": {
        "raw": "".join(
            json.dumps(r) + "\n"
            for r in [
                {
                    "question": "If 3x + 2 = 11, what is x?",
                    "options": ["A)1", "B)2", "C)3", "D)4(2 + 1)", "E)None"],
                    "rationale": "3x = 9, x = 3\nANSWER:C",
                    "correct": "C",
                },
                {
                    "question": "What is 20% of 50?",
                    "options": ["A)5", "B)10", "C)15", "D)20", "E)25"],
                    "rationale": "0.2 * 50 = 10",
                    "correct": "B",
                },
            ]
        ),
        # Kojima et al.'s rendering: a space before every "(" and after every ")", inside options too.
        "question": "If 3x + 2 = 11, what is x? Answer Choices: (A) 1 (B) 2 (C) 3 (D) 4 (2 + 1)  (E) None",
        "answer": "C",
        "format": "choice:ABCDE",
    },
    "csqa": {
        "raw": "".join(
            json.dumps(r) + "\n"
            for r in [
                {
                    "answerKey": "D",
                    "id": "f1",
                    "question": {
                        "question_concept": "kettle",
                        "choices": [
                            {"label": "A", "text": "garage"},
                            {"label": "B", "text": "office"},
                            {"label": "C", "text": "shoe"},
                            {"label": "D", "text": "kitchen"},
                            {"label": "E", "text": "car"},
                        ],
                        "stem": "Where would you most likely keep a kettle?",
                    },
                },
            ]
        ),
        "question": "Where would you most likely keep a kettle? Answer Choices: (A) garage (B) office (C) shoe "
        "(D) kitchen (E) car",
        "answer": "D",
        "format": "choice:ABCDE",
    },
    "strategyqa": {
        "raw": json.dumps(
            {
                "canary": "fixture",
                "examples": [
                    {
                        "input": "Could a cat fit inside a teacup?",
                        "target_scores": {"Yes": 0, "No": 1},
                        "target": "No. A cat is much larger than a teacup.",
                    },
                    {
                        "input": "Is ice lighter than the same volume of water?",
                        "target_scores": {"Yes": 1, "No": 0},
                        "target": "Yes. Ice floats.",
                    },
                ],
            },
            indent=4,
        ),
        "question": "Could a cat fit inside a teacup?",
        "answer": "no",
        "format": "yes_no",
    },
    "date": {
        "raw": json.dumps(
            {
                "name": "date_understanding",
                "examples": [
                    {
                        "input": "Today is 03/01/2020. What is the date yesterday in MM/DD/YYYY?",
                        "target_scores": {
                            "02/29/2020": 1,
                            "02/28/2020": 0,
                            "03/02/2020": 0,
                            "01/29/2020": 0,
                            "02/29/2019": 0,
                            "03/31/2020": 0,
                        },
                    },
                    {
                        "input": "Today is 12/31/1999. What is the date tomorrow in MM/DD/YYYY?",
                        "target_scores": {
                            "01/01/2000": 1,
                            "12/30/1999": 0,
                            "01/01/1999": 0,
                            "02/01/2000": 0,
                            "01/31/2000": 0,
                        },
                    },
                ],
            }
        ),
        # The options in the order of Kojima et al.'s shuffle (random seeded once with 1, three
        # shuffles a question, in file order): what their procedure gives on this file.
        "question": "Today is 03/01/2020. What is the date yesterday in MM/DD/YYYY? Answer Choices: "
        "(A) 03/31/2020 (B) 02/29/2020 (C) 02/28/2020 (D) 02/29/2019 (E) 03/02/2020 (F) 01/29/2020",
        "answer": "B",
        "format": "choice:ABCDEF",
    },
    "sports": {
        "raw": json.dumps(
            {
                "canary": "fixture",
                "examples": [
                    {
                        "input": 'Is the following sentence plausible? "Mia Kovac scored a penalty kick."',
                        "target": "yes",
                    },
                    {
                        "input": 'Is the following sentence plausible? "Mia Kovac threw a touchdown pass."',
                        "target": "no",
                    },
                ],
            },
            indent=4,
        ),
        "question": 'Is the following sentence plausible? "Mia Kovac scored a penalty kick."',
        "answer": "yes",
        "format": "yes_no",
    },
    "shuffled_objects": {
        "raw": json.dumps(
            {
                "name": "three_objects",
                "examples": [
                    {
                        "input": "Ann, Ben, and Cal each hold a card: Ann has a red card, Ben has a blue card, "
                        "and Cal has a green card. \n\nFirst, Ann and Ben swap cards. Then, Ben and Cal swap "
                        "cards. Finally, Ann and Cal swap cards. At the end, Ann has the ",
                        "target_scores": {"red card.": 0, "blue card.": 0, "green card.": 1},
                    },
                ],
            }
        ),
        "question": "Ann, Ben, and Cal each hold a card: Ann has a red card, Ben has a blue card, and Cal has a "
        "green card. \n\nFirst, Ann and Ben swap cards. Then, Ben and Cal swap cards. Finally, Ann "
        "and Cal swap cards. At the end, Ann has the \nWhich choice is true ? Answer Choices: "
        "(A) red card. (B) blue card. (C) green card.",
        "answer": "C",
        "format": "choice:ABC",
    },
    "math500": {
        # The layout of prm800k/math_splits/test.jsonl (field names and LaTeX answers), the project's own problems.
        "raw": "".join(
            json.dumps(r) + "\n"
            for r in [
                {
                    "problem": "What is $\\frac{2}{4}$ in lowest terms? ",
                    "solution": "Divide by 2: $\\boxed{\\frac{1}{2}}$.",
                    "answer": "\\frac{1}{2}",
                    "subject": "Prealgebra",
                    "level": 1,
                    "unique_id": "test/prealgebra/1.json",
                },
                {
                    "problem": "For which $x$ is $0 \\le x - 1 < 1$?",
                    "solution": "Add 1: $\\boxed{[1,2)}$.",
                    "answer": "[1,2)",
                    "subject": "Algebra",
                    "level": 2,
                    "unique_id": "test/algebra/2.json",
                },
            ]
        ),
        "question": "What is $\\frac{2}{4}$ in lowest terms?",
        "answer": "\\frac{1}{2}",
        "format": "math",
    },
}

TRIGGERS = {
    "number": "Therefore, the answer (arabic numerals) is",
    "choice:ABCDE": "Therefore, among A through E, the answer is",
    "choice:ABCDEF": "Therefore, among A through F, the answer is",
    "choice:ABC": "Therefore, among A through C, the answer is",
    "yes_no": "Therefore, the answer (Yes or No) is",
    "text": "Therefore, the answer is",
    "math": "Therefore, the answer is",
}
"""The issue's zero-shot answer triggers, typed out independently of the code."""

DIRECT_TRIGGERS = {
    "number": "The answer (arabic numerals) is",
    "choice:ABCDE": "Among A through E, the answer is",
    "choice:ABCDEF": "Among A through F, the answer is",
    "choice:ABC": "Among A through C, the answer is",
    "yes_no": "The answer (Yes or No) is",
    "text": "The answer is",
    "math": "The answer is",
}


def counting_records(n: int) -> list[dict]:
    """``n`` prepared number-answer records of the project's own text (ids r0, r1, ...), for tests
    that generate them with a tiny model."""
    return [
        {
            "id": f"r{i}",
            "question": f"Question number {i}: {i} + {i * 3} apples is how many?",
            "answer": str(4 * i),
            "answer_format": "number",
            "choices": None,
        }
        for i in range(n)
    ]
